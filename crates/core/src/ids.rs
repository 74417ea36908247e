//! Resource ids in ECS's shape: a type prefix and 20 lowercase alphanumerics (`i-`, `d-`, `m-`).

use rand::Rng;

const ALPHABET: &[u8] = b"abcdefghijklmnopqrstuvwxyz0123456789";

pub fn new_id(prefix: &str) -> String {
    let mut rng = rand::thread_rng();
    let tail: String = (0..20).map(|_| ALPHABET[rng.gen_range(0..ALPHABET.len())] as char).collect();
    format!("{prefix}-{tail}")
}

/// Whether `id` looks like an id we could have issued (used to reject garbage early).
pub fn is_well_formed(id: &str) -> bool {
    id.len() <= 64
        && !id.is_empty()
        && id.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
}

#[cfg(test)]
mod tests {
    #[test]
    fn ids_have_prefix_and_twenty_characters() {
        let id = super::new_id("i");
        assert!(id.starts_with("i-"));
        assert_eq!(id.len(), 22);
        assert!(super::is_well_formed(&id));
        assert!(!super::is_well_formed("i-../../etc"));
    }
}
