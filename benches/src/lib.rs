//! Handlers measured by the benches (see `benches/`). Each binary in `src/bin` is one variant of
//! the same echo handler, so that the benches compare like with like.
