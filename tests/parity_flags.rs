//! ko parity for `rko build`'s flags and environment (issue 12): each test
//! asserts ko's behaviour and cites the ko source it follows.
