//! Forward-mode dual numbers: a value and its derivatives with respect to `K` parameters,
//! carried through the per-term arithmetic of `gradients::pixel` so that one pass over the
//! terms gives the image and its `K` derivative images (the per-term work — positions,
//! scattering vectors, indices, lattice and structure factors — is shared, which the
//! hand-derived alternative would have to repeat per parameter and per crystal shape).
//! `K` is a const generic so that the tangents live in registers, not on the heap.

use std::ops::{Add, AddAssign, Div, Mul, Neg, Sub};

#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Dual<const K: usize> {
    /// the value
    pub v: f64,
    /// ∂value/∂parameter j
    pub d: [f64; K],
}

impl<const K: usize> Dual<K> {
    /// A constant (all derivatives 0).
    #[inline(always)]
    pub const fn c(v: f64) -> Self {
        Dual { v, d: [0.0; K] }
    }
    /// f(self) given f(v) and f'(v): the chain rule.
    #[inline(always)]
    pub fn chain(self, value: f64, slope: f64) -> Self {
        let mut d = self.d;
        for x in d.iter_mut() {
            *x *= slope;
        }
        Dual { v: value, d }
    }
    #[inline(always)]
    pub fn sqrt(self) -> Self {
        let s = self.v.sqrt();
        self.chain(s, 0.5 / s)
    }
    #[inline(always)]
    pub fn sin(self) -> Self {
        let (s, c) = self.v.sin_cos();
        self.chain(s, c)
    }
    #[inline(always)]
    pub fn cos(self) -> Self {
        let (s, c) = self.v.sin_cos();
        self.chain(c, -s)
    }
    #[inline(always)]
    pub fn exp(self) -> Self {
        let e = self.v.exp();
        self.chain(e, e)
    }
    /// atan2(self, x) (self is y).
    #[inline(always)]
    pub fn atan2(self, x: Self) -> Self {
        let r2 = self.v * self.v + x.v * x.v;
        let mut d = [0.0; K];
        for j in 0..K {
            d[j] = (x.v * self.d[j] - self.v * x.d[j]) / r2;
        }
        Dual { v: self.v.atan2(x.v), d }
    }
}

macro_rules! binary {
    ($tr:ident, $f:ident, |$a:ident, $b:ident| $v:expr, |$j:ident| $dd:expr) => {
        impl<const K: usize> $tr for Dual<K> {
            type Output = Dual<K>;
            #[inline(always)]
            fn $f(self, $b: Dual<K>) -> Dual<K> {
                let $a = self;
                let mut d = [0.0; K];
                for $j in 0..K {
                    d[$j] = $dd;
                }
                Dual { v: $v, d }
            }
        }
        impl<const K: usize> $tr<f64> for Dual<K> {
            type Output = Dual<K>;
            #[inline(always)]
            fn $f(self, b: f64) -> Dual<K> {
                self.$f(Dual::<K>::c(b))
            }
        }
        impl<const K: usize> $tr<Dual<K>> for f64 {
            type Output = Dual<K>;
            #[inline(always)]
            fn $f(self, b: Dual<K>) -> Dual<K> {
                Dual::<K>::c(self).$f(b)
            }
        }
    };
}

binary!(Add, add, |a, b| a.v + b.v, |j| a.d[j] + b.d[j]);
binary!(Sub, sub, |a, b| a.v - b.v, |j| a.d[j] - b.d[j]);
binary!(Mul, mul, |a, b| a.v * b.v, |j| a.d[j] * b.v + a.v * b.d[j]);
binary!(Div, div, |a, b| a.v / b.v, |j| (a.d[j] * b.v - a.v * b.d[j]) / (b.v * b.v));

impl<const K: usize> Neg for Dual<K> {
    type Output = Dual<K>;
    #[inline(always)]
    fn neg(self) -> Dual<K> {
        self.chain(-self.v, -1.0)
    }
}

impl<const K: usize> AddAssign for Dual<K> {
    #[inline(always)]
    fn add_assign(&mut self, b: Dual<K>) {
        *self = *self + b;
    }
}

/// A vector of duals.
pub type DV<const K: usize> = [Dual<K>; 3];

#[inline(always)]
pub fn ddot<const K: usize>(a: &DV<K>, b: &DV<K>) -> Dual<K> {
    a[0] * b[0] + a[1] * b[1] + a[2] * b[2]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn elementary_derivatives_match_their_formulas() {
        let x = Dual::<1> { v: 0.7, d: [1.0] };
        let y = Dual::<1>::c(-0.3);
        let f = (x.sin() * x.cos() + x.exp() / x.sqrt() - y.atan2(x)) * x;
        let g = |x: f64| (x.sin() * x.cos() + x.exp() / x.sqrt() - (-0.3f64).atan2(x)) * x;
        let h = 1e-5;
        let fd = (g(0.7 + h) - g(0.7 - h)) / (2.0 * h);
        assert_eq!(f.v, g(0.7));
        assert!((f.d[0] - fd).abs() < 1e-9 * fd.abs(), "{} vs {fd}", f.d[0]);
    }
}
