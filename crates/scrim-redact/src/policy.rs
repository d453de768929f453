//! The capture policy. (Being written.)
