//! Items 7, 8 (colours) and 10: secrets stay out of children, logs and plain HTTP.
