//! The systemd user units `--install` writes (the keep-alive's timer, the bridge's service): every word of their
//! command line goes through [`exec_start`], which quotes it the one way systemd reads it back, and refuses what
//! systemd cannot carry (a line break, a control character, a path that is not Unicode).
//!
//! systemd reads an `ExecStart=` word in double quotes with C escapes (`\\`, `\"`), expands `%` specifiers
//! everywhere (`%%` is a percent sign) and `$` variables in the arguments (`$$` is a dollar sign). The program's own
//! path takes no variables, and systemd refuses one holding `\`, `"` or `'` ("Executable name contains special
//! characters"): such a path is refused here with what to do.

use std::path::Path;

/// Why a unit cannot be written, in words for the person who ran `--install`.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct UnitError(pub String);

/// The `ExecStart=` value that runs `program` with `arguments`, each word quoted for systemd.
pub fn exec_start(program: &Path, arguments: &[String]) -> Result<String, UnitError> {
    let program_text = path_text(program)?;
    if let Some(special) = program_text
        .chars()
        .find(|c| matches!(c, '\\' | '"' | '\''))
    {
        return Err(UnitError(format!(
            "systemd cannot start a program whose path holds {special:?} ({program_text}); move mailconnect to a \
             folder without it and run --install again"
        )));
    }
    let mut words = vec![quote(&program_text, false)?];
    for argument in arguments {
        words.push(quote(argument, true)?);
    }
    Ok(words.join(" "))
}

/// A path as a unit can hold it: absolute (a unit has no working folder of the person's shell), and Unicode.
pub fn path_text(path: &Path) -> Result<String, UnitError> {
    let absolute = std::path::absolute(path).map_err(|error| {
        UnitError(format!(
            "{} cannot be made absolute: {error}",
            path.display()
        ))
    })?;
    absolute.to_str().map(str::to_owned).ok_or_else(|| {
        UnitError(format!(
            "{} is not valid Unicode, which a systemd unit cannot hold; rename it",
            absolute.display()
        ))
    })
}

/// One word in double quotes: `\` and `"` escaped, `%` doubled, and `$` doubled in arguments (the program's path
/// takes no variables). A line break or other control character cannot be carried: refused.
fn quote(word: &str, argument: bool) -> Result<String, UnitError> {
    if let Some(control) = word.chars().find(|c| c.is_control()) {
        return Err(UnitError(format!(
            "{:?} holds a {}, which a systemd unit cannot carry; rename it and run --install again",
            word,
            if control == '\n' || control == '\r' {
                "line break".to_owned()
            } else {
                format!("control character ({control:?})")
            }
        )));
    }
    let mut quoted = String::with_capacity(word.len() + 2);
    quoted.push('"');
    for c in word.chars() {
        match c {
            '\\' => quoted.push_str("\\\\"),
            '"' => quoted.push_str("\\\""),
            '%' => quoted.push_str("%%"),
            '$' if argument => quoted.push_str("$$"),
            c => quoted.push(c),
        }
    }
    quoted.push('"');
    Ok(quoted)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// systemd's reading of one double-quoted argument word (`extract_first_word` with C unescaping, then the
    /// specifier and variable passes), for the characters `quote` escapes.
    fn systemd_reads(word: &str) -> String {
        let inner = word
            .strip_prefix('"')
            .and_then(|w| w.strip_suffix('"'))
            .expect("quoted");
        let mut out = String::new();
        let mut chars = inner.chars();
        while let Some(c) = chars.next() {
            match c {
                '\\' => out.push(chars.next().expect("an escape")),
                '"' => panic!("an unescaped quote ends the word early: {word}"),
                '%' => {
                    assert_eq!(chars.next(), Some('%'), "a specifier: {word}");
                    out.push('%');
                }
                '$' => {
                    assert_eq!(chars.next(), Some('$'), "a variable: {word}");
                    out.push('$');
                }
                c => out.push(c),
            }
        }
        out
    }

    #[test]
    fn every_argument_word_reads_back_as_itself_and_line_breaks_are_refused() {
        for word in [
            "/home/reception/.config/mailconnect/config 100%.toml",
            "/srv/$HOME/${USER}/a$$b",
            "C:\\Users\\reception\\config.toml",
            "say \"hi\" and 'bye'",
            "--config=/tmp/x",
            "ünïcode ✓",
            "",
        ] {
            let quoted = quote(word, true).unwrap();
            assert_eq!(systemd_reads(&quoted), word, "{quoted}");
            assert!(!quoted.contains('\n'));
        }
        for word in [
            "/tmp/a\nExecStartPre=/bin/rm -rf ~",
            "a\rb",
            "a\u{7}b",
            "a\0b",
        ] {
            let refused = quote(word, true).unwrap_err();
            assert!(refused.0.contains("cannot carry"), "{refused}");
        }
        assert_eq!(
            quote("/opt/pay$/mailconnect", false).unwrap(),
            "\"/opt/pay$/mailconnect\"",
            "the program's path takes no variables"
        );
        let refused = exec_start(Path::new("/opt/it's/mailconnect"), &[]).unwrap_err();
        assert!(refused.0.contains("move mailconnect"), "{refused}");
    }
}
