//! URL redaction. (Being written.)
