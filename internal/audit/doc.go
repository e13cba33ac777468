// Package audit measures how far the devices of each simulated user diverge,
// how long changes take to reach every device of the user (convergence lag),
// why some never do, and whether the server lost mail.
//
// It is pure logic: it reads device views through callbacks and the server's
// truth through the Truth interface, and does no I/O of its own.
//
// The definitions follow docs/report.md (Divergence), which is a contract:
//
//   - For one user, over the union of Message-IDs in all the user's device
//     views, a message is divergent when its presence, folder or flags differ
//     between any two of the user's devices. The user's ratio is
//     divergent/union; a user whose union is empty has ratio 0 and counts as
//     converged. A user with a single device is trivially converged.
//   - Per dimension: presence counts messages some but not all devices show;
//     folder counts messages the devices that show them place in different
//     folders; flags counts messages the devices that show them show with
//     different tracked flags. One message can count in several dimensions;
//     the divergent count counts it once.
//   - A group's ratio is Σdivergent/Σunion over the group's users (a
//     message-weighted ratio, not the mean of per-user ratios); the overall
//     ratio is the same sum over every user. users_converged_ratio is the
//     share of users with no divergent message.
//   - A change (Change) should reach every device of its user other than the
//     one it was made on. Its convergence lag is the simulated time from
//     when the server had the change (Change.Stored: the end of the action
//     that made it, after a send's writing time) until the last of those
//     devices shows it (see Auditor.Audit for how "shows" and the time it
//     was shown are determined). Changes that never converge are counted
//     once, by kind and by the Reason found for them (see the Reason
//     constants and docs/report.md).
//   - Lost mail: delivered or sent Message-IDs, not deleted by a simulated
//     person, that are on no device of the user and not on the server.
package audit
