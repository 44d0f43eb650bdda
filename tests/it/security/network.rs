//! Items 3 and 4: cross-site requests, Host checks, timeouts and connection caps.
