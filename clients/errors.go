package clients

import "errors"

// ErrNoMessage is returned by Device.Do for an action on a message the
// device does not show.
var ErrNoMessage = errors.New("message not on this device")

// ErrNoSubmitter is returned by send, reply and forward when the device has
// no Submitter.
var ErrNoSubmitter = errors.New("no submitter configured")
