//! JSON request and response bodies. (Being written.)
