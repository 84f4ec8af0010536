//! Data parallelism where the build has it: rayon's slice and iterator methods with the
//! `parallel` feature (the default), and the same names on the calling thread without it (a
//! browser's wasm32 build has no threads). The engines only split slices into chunks and fold
//! per-chunk results in order, so both builds give the same numbers.

#[cfg(feature = "parallel")]
pub use rayon::prelude::*;

#[cfg(not(feature = "parallel"))]
pub use sequential::*;

#[cfg(not(feature = "parallel"))]
mod sequential {
    /// `par_chunks` on the calling thread.
    pub trait ParallelSlice<T> {
        fn par_chunks(&self, size: usize) -> std::slice::Chunks<'_, T>;
    }

    impl<T> ParallelSlice<T> for [T] {
        fn par_chunks(&self, size: usize) -> std::slice::Chunks<'_, T> {
            self.chunks(size)
        }
    }

    /// `par_chunks_mut` on the calling thread.
    pub trait ParallelSliceMut<T> {
        fn par_chunks_mut(&mut self, size: usize) -> std::slice::ChunksMut<'_, T>;
    }

    impl<T> ParallelSliceMut<T> for [T] {
        fn par_chunks_mut(&mut self, size: usize) -> std::slice::ChunksMut<'_, T> {
            self.chunks_mut(size)
        }
    }

    /// rayon's `map_init`: one state for the whole (sequential) iteration.
    pub trait MapInit: Iterator + Sized {
        fn map_init<S, R>(self, init: impl FnOnce() -> S, mut f: impl FnMut(&mut S, Self::Item) -> R) -> impl Iterator<Item = R> {
            let mut state = init();
            self.map(move |item| f(&mut state, item))
        }
    }

    impl<I: Iterator> MapInit for I {}
}
