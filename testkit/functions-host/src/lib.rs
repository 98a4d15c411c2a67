//! placeholder, replaced by the host emulator
