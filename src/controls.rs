//! How advice names the window's controls: through markers in the advice text, rendered for the window
//! ("choose \"Try again\"") or for a terminal ("run the same mailconnect command again").

/// Where advice is read.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Surface {
    Window,
    CommandLine,
}

/// Each control marker, as the window says it and as the command line says it.
pub const CONTROLS: [(&str, &str, &str); 7] = [
    (
        "{retry}",
        "choose \"Try again\"",
        "run the same mailconnect command again",
    ),
    (
        "{sign-in-again}",
        "choose \"Sign in again\"",
        "sign in again with `mailconnect login <mailbox>`",
    ),
    (
        "{another-account}",
        "choose \"Use another account\"",
        "run `mailconnect login <mailbox> --browser` and pick the account",
    ),
    (
        "{new-code}",
        "choose \"Get a new code\"",
        "run `mailconnect login <mailbox>` again for a new code",
    ),
    (
        "{report}",
        "copy the support report",
        "run `mailconnect report <mailbox>`",
    ),
    (
        "{browser}",
        "choose \"Sign in with your browser\"",
        "run `mailconnect login <mailbox> --browser`",
    ),
    (
        "{code}",
        "choose \"Sign in with a code\"",
        "run `mailconnect login <mailbox>` to sign in with a code",
    ),
];

impl crate::advice::Advice {
    /// The steps as `surface` says them, with `mailbox` filled in where a command needs it.
    pub fn steps_for(&self, surface: Surface, mailbox: Option<&str>) -> Vec<String> {
        self.steps
            .iter()
            .map(|step| {
                let mut text = step.clone();
                for (marker, window, command_line) in CONTROLS {
                    text = text.replace(
                        marker,
                        match surface {
                            Surface::Window => window,
                            Surface::CommandLine => command_line,
                        },
                    );
                }
                if let Some(mailbox) = mailbox {
                    text = text.replace("<mailbox>", mailbox);
                }
                capitalise_sentences(&text)
            })
            .collect()
    }
}

/// A marker can open a sentence (at the start, or after ". "): its first word then starts with a capital.
fn capitalise_sentences(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut chars = text.chars().peekable();
    let mut capitalise_next = true;
    while let Some(c) = chars.next() {
        if capitalise_next && c.is_alphabetic() {
            out.extend(c.to_uppercase());
        } else {
            out.push(c);
        }
        capitalise_next = c == '.' && chars.peek() == Some(&' ') || capitalise_next && c == ' ';
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_dot_inside_a_host_name_does_not_start_a_sentence() {
        assert_eq!(
            capitalise_sentences("open admin.microsoft.com now. then go"),
            "Open admin.microsoft.com now. Then go"
        );
    }
}
