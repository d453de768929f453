//! Detectors: find sensitive values inside any text. (Being written.)
