//! All three applications behind one state machine.
