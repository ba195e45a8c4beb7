//! Router tests of the registry pages: clinic details, members, managers, statuses,
//! delegation, conflicts and member history.
