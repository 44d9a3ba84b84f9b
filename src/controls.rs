//! How advice names the window's controls: through markers in the advice text, rendered for the window
//! ("choose \"Try again\"") or for a terminal ("run the same mailconnect command again").

/// Where advice is read.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Surface {
    Window,
    /// The accounts home (its toolbar and a row's details), where the wizard's buttons are not on screen.
    Home,
    CommandLine,
    /// About an error another program showed, pasted into `mailconnect explain`: the controls are that program's,
    /// or mailconnect's commands where it can help.
    Elsewhere,
    /// The same, pasted into the window's "Explain an error message": mailconnect's help is named by the window's
    /// controls, never a command line.
    ElsewhereInWindow,
}

/// Each control marker, as the wizard says it, as the command line says it, as advice about another program says
/// it (at a terminal), as the accounts home says it, and as advice about another program says it in the window.
pub const CONTROLS: [(&str, &str, &str, &str, &str, &str); 9] = [
    (
        "{devices}",
        "after Finish, choose \"Programs and devices\" on Accounts and add it",
        "add it with `mailconnect device add` on the computer that runs mailconnect",
        "on the computer that runs mailconnect, open Accounts > \"Programs and devices\" and add it",
        "choose \"Programs and devices\" and add it",
        "choose \"Programs and devices\" on this page and add it",
    ),
    (
        "{retry}",
        "choose \"Try again\"",
        "run the same mailconnect command again",
        "try again in the program that showed the error",
        "choose \"Check now\" again",
        "try again in the program that showed the error",
    ),
    (
        "{sign-in-again}",
        "choose \"Sign in again\"",
        "sign in again with `mailconnect login <mailbox>`",
        "sign in again in that program (one that gets its sign-in from mailconnect: Accounts, \"Re-authenticate now\")",
        "tick the mailbox and choose \"Re-authenticate now\"",
        "sign in again in that program (one that gets its sign-in from mailconnect: Accounts, \"Re-authenticate now\")",
    ),
    (
        "{another-account}",
        "choose \"Use another account\"",
        "run `mailconnect login <mailbox> --browser` and pick the account",
        "sign in with another account",
        "tick the mailbox, choose \"Re-authenticate now\" and then \"Use another account\"",
        "sign in with another account",
    ),
    (
        "{new-code}",
        "choose \"Get a new code\"",
        "run `mailconnect login <mailbox>` again for a new code",
        "get a new code",
        "tick the mailbox and choose \"Re-authenticate now\" for a new code",
        "get a new code",
    ),
    (
        "{report}",
        "copy the support report",
        "run `mailconnect report <mailbox>`",
        "send support the error message with the ids shown here",
        "choose \"Details\" on its row and then \"Copy support report\"",
        "send support the error message with the ids shown here",
    ),
    (
        "{browser}",
        "choose \"Sign in with your browser\"",
        "run `mailconnect login <mailbox> --browser`",
        "sign in with a browser on this computer",
        "tick the mailbox, choose \"Re-authenticate now\" and then \"Sign in with your browser\"",
        "sign in with a browser on this computer",
    ),
    (
        "{code}",
        "choose \"Sign in with a code\"",
        "run `mailconnect login <mailbox>` to sign in with a code",
        "sign in with a code",
        "tick the mailbox, choose \"Re-authenticate now\" and then \"Sign in with a code\"",
        "sign in with a code",
    ),
    (
        "{ask-it-admin}",
        "send your IT admin the approval link under \"Ask your IT admin\" below",
        "send your IT admin the approval link that `mailconnect consent-link <mailbox>` prints",
        "ask your IT admin to approve the app named in the message (for mailconnect itself, \
         `mailconnect consent-link <mailbox>` prints the approval link)",
        "tick the mailbox and choose \"Re-authenticate now\": its sign-in step shows the approval link for your IT admin",
        "ask your IT admin to approve the app named in the message (for mailconnect itself: on Accounts, tick the mailbox and choose \"Re-authenticate now\"; its sign-in step shows the approval link)",
    ),
];

impl crate::advice::Advice {
    /// The steps as `surface` says them, with `mailbox` filled in where a command needs it.
    pub fn steps_for(&self, surface: Surface, mailbox: Option<&str>) -> Vec<String> {
        self.steps
            .iter()
            .map(|step| {
                let mut text = step.clone();
                for (marker, window, command_line, elsewhere, home, elsewhere_in_window) in CONTROLS
                {
                    text = text.replace(
                        marker,
                        match surface {
                            Surface::Window => window,
                            Surface::CommandLine => command_line,
                            Surface::Elsewhere => elsewhere,
                            Surface::Home => home,
                            Surface::ElsewhereInWindow => elsewhere_in_window,
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
