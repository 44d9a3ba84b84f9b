//! Splitting a long secret into parts that each fit one Windows Credential Manager item.

/// Characters per part: Windows Credential Manager holds 2560 bytes and the Windows store writes UTF-16, so
/// 1280 characters is the ceiling; 1200 leaves room. Tokens are ASCII, but the split is on character boundaries anyway.
pub const PART_CHARS: usize = 1200;

/// Splits `secret` into consecutive parts of at most [`PART_CHARS`] characters; an empty secret is one empty part.
pub fn split_into_parts(secret: &str) -> Vec<&str> {
    let mut parts = Vec::new();
    let mut rest = secret;
    while rest.chars().count() > PART_CHARS {
        let boundary = rest
            .char_indices()
            .nth(PART_CHARS)
            .map_or(rest.len(), |(index, _)| index);
        let (head, tail) = rest.split_at(boundary);
        parts.push(head);
        rest = tail;
    }
    parts.push(rest);
    parts
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parts_fit_the_windows_limit_and_join_back() {
        for length in [
            0,
            1,
            PART_CHARS - 1,
            PART_CHARS,
            PART_CHARS + 1,
            4096,
            3 * PART_CHARS,
        ] {
            let token: String = (0..length)
                .map(|i| char::from(b'a' + (i % 26) as u8))
                .collect();
            let parts = split_into_parts(&token);
            assert_eq!(parts.concat(), token);
            assert!(
                parts
                    .iter()
                    .all(|part| part.encode_utf16().count() * 2 <= 2560)
            );
            assert_eq!(
                parts.len(),
                length.div_ceil(PART_CHARS).max(1),
                "length {length}"
            );
        }
    }

    #[test]
    fn never_splits_inside_a_character() {
        let token = "é".repeat(PART_CHARS + 5);
        let parts = split_into_parts(&token);
        assert_eq!(parts.len(), 2);
        assert_eq!(parts.concat(), token);
    }
}
