//! Reading a policy: the main file and its includes, from a folder.
