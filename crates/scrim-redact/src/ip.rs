//! IP address handling. (Being written.)
