//! The command line: arguments, settings, commands and exit codes.
