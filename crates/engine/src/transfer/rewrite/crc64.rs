//! CRC-64 as Firecracker's snapshot trailer uses it: the reflected Jones
//! polynomial `0x95ac9329ac4bc9b5`, initial value 0, no final xor (the
//! `crc64` crate's `crc64(0, data)`, Firecracker v1.14.2
//! `src/vmm/src/snapshot/crc.rs`; Hypeman's `firecrackerSnapshotCRC64` in
//! `lib/hypervisor/firecracker/snapshot_state.go` @2211346 computes the same
//! bit by bit).
//!
//! When the 8-byte little-endian CRC of `body` is appended to `body`, the CRC
//! of the whole buffer is 0: that is how Firecracker checks it on load.

/// The reflected Jones polynomial.
pub const POLY: u64 = 0x95ac_9329_ac4b_c9b5;

const TABLE: [u64; 256] = {
    let mut table = [0u64; 256];
    let mut i = 0;
    while i < 256 {
        let mut c = i as u64;
        let mut k = 0;
        while k < 8 {
            c = if c & 1 != 0 { (c >> 1) ^ POLY } else { c >> 1 };
            k += 1;
        }
        table[i] = c;
        i += 1;
    }
    table
};

/// Continue a CRC over `data` (start with 0).
pub fn crc64(mut crc: u64, data: &[u8]) -> u64 {
    for &b in data {
        let index = usize::from(crc.to_le_bytes()[0] ^ b);
        crc = TABLE[index] ^ (crc >> 8);
    }
    crc
}

/// `body` followed by its CRC (little endian), as Firecracker writes it.
pub fn with_trailer(mut body: Vec<u8>) -> Vec<u8> {
    let crc = crc64(0, &body);
    body.extend_from_slice(&crc.to_le_bytes());
    body
}

/// Whether `data` ends with the CRC of what precedes it.
pub fn trailer_ok(data: &[u8]) -> bool {
    data.len() >= 8 && crc64(0, data) == 0
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn check_value_and_residue() {
        // The crc64 crate's documented check value for this parameter set.
        assert_eq!(crc64(0, b"123456789"), 0xe9c6_d914_c4b8_d9ca);
        let framed = with_trailer(b"firecracker".to_vec());
        assert!(trailer_ok(&framed));
        let mut bad = framed.clone();
        bad[0] ^= 1;
        assert!(!trailer_ok(&bad));
        assert!(!trailer_ok(&[0u8; 7]));
    }
}
