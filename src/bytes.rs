//! Where a byte is in sixteen bytes, as bits: the one vector step the per-line scanners share
//! (line ends, the spaces of the GET screen, a space in a request's URL).
//!
//! SSE2 is in every x86_64 CPU, so the static binary needs no feature detection; elsewhere a
//! byte loop gives the same bits.

/// Bit `i` is set where `bytes[at + i] == byte`, for the sixteen bytes from `at`
/// (`at + 16 <= bytes.len()`, else this panics).
#[cfg(target_arch = "x86_64")]
#[inline]
pub(crate) fn eq_bits16(bytes: &[u8], at: usize, byte: u8) -> u16 {
    use std::arch::x86_64::{
        __m128i, _mm_cmpeq_epi8, _mm_loadu_si128, _mm_movemask_epi8, _mm_set1_epi8,
    };
    let block = &bytes[at..at + 16];
    // SAFETY: SSE2 is in every x86_64 CPU; the unaligned load reads the 16 bytes of `block`.
    let mask = unsafe {
        let v = _mm_loadu_si128(block.as_ptr().cast::<__m128i>());
        _mm_movemask_epi8(_mm_cmpeq_epi8(v, _mm_set1_epi8(byte as i8)))
    };
    mask as u16
}

#[cfg(not(target_arch = "x86_64"))]
#[inline]
pub(crate) fn eq_bits16(bytes: &[u8], at: usize, byte: u8) -> u16 {
    bytes[at..at + 16]
        .iter()
        .enumerate()
        .fold(0, |bits, (i, &b)| bits | (u16::from(b == byte) << i))
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    proptest! {
        #[test]
        fn the_bits_are_where_the_byte_is(
            bytes in proptest::collection::vec(prop_oneof![Just(b' '), Just(b'\n'), any::<u8>()], 16..40),
            at in 0usize..24,
            byte in prop_oneof![Just(b' '), Just(b'\n'), any::<u8>()],
        ) {
            let at = at.min(bytes.len() - 16);
            let want = (0..16).fold(0u16, |bits, i| bits | (u16::from(bytes[at + i] == byte) << i));
            prop_assert_eq!(eq_bits16(&bytes, at, byte), want);
        }
    }
}
