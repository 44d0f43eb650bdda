//! Items 1 and 2: a commit may not read host files or ask for more than `POLICY` allows.
