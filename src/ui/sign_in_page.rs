//! Step 3, signing in: the two methods, the code with its countdown and QR code, the browser's link, and a refusal
//! with its cause, the ids to read out, the way on, and "Ask your IT admin" when only an approval helps.

use eframe::egui;

use egui::{RichText, Ui};

use super::widgets::{advice_ui, qr_code, verdict_badge};
use crate::wizard::{Copied, Intent, SignIn, SignInMethod, SignInPage};

pub(super) fn sign_in_ui(ui: &mut Ui, page: &SignInPage, browser_here: bool) -> Option<Intent> {
    let mut intent = None;
    let expected = page.expected().to_owned();
    match &page.sign_in {
        SignIn::Choosing => {
            ui.label(format!("Sign in as {expected}."));
            ui.add_space(8.0);
            let browser = |ui: &mut Ui, intent: &mut Option<Intent>, recommended: bool| {
                egui::Frame::group(ui.style()).show(ui, |ui| {
                    ui.label(
                        RichText::new(if recommended {
                            "Sign in with your browser (recommended)"
                        } else {
                            "Sign in with your browser"
                        })
                        .strong(),
                    );
                    ui.label("Your web browser opens Microsoft's sign-in page on this computer.");
                    if ui.button("Sign in with your browser").clicked() {
                        *intent = Some(Intent::StartSignIn(SignInMethod::Browser));
                    }
                });
            };
            let code = |ui: &mut Ui, intent: &mut Option<Intent>, recommended: bool| {
                egui::Frame::group(ui.style()).show(ui, |ui| {
                    ui.label(
                        RichText::new(if recommended {
                            "Sign in with a code (recommended here)"
                        } else {
                            "Sign in with a code"
                        })
                        .strong(),
                    );
                    ui.label(
                        "For a computer without a browser, or to sign in on your phone: you get a short code to \
                         type on Microsoft's page. Type only a code this window shows, never one someone sent you. \
                         Some organisations switch this way off.",
                    );
                    if ui.button("Sign in with a code").clicked() {
                        *intent = Some(Intent::StartSignIn(SignInMethod::DeviceCode));
                    }
                });
            };
            // The browser first where this computer has one: codes sent by strangers are a known trick, so many
            // organisations block the code sign-in.
            if browser_here {
                browser(ui, &mut intent, true);
                ui.add_space(6.0);
                code(ui, &mut intent, false);
            } else {
                code(ui, &mut intent, true);
                ui.add_space(6.0);
                browser(ui, &mut intent, false);
            }
        }
        SignIn::Starting(method) => {
            ui.horizontal(|ui| {
                ui.spinner();
                ui.label(match method {
                    SignInMethod::DeviceCode => "Getting a code from Microsoft…",
                    SignInMethod::Browser => "Opening your browser…",
                });
            });
            if ui.button("Cancel sign-in").clicked() {
                intent = Some(Intent::CancelSignIn);
            }
        }
        SignIn::ShowingCode(prompt) => {
            let page = prompt.verification_uri.to_string();
            ui.label("1. Open this page:");
            ui.horizontal(|ui| {
                if ui.link(RichText::new(&page).size(16.0)).clicked() {
                    intent = Some(Intent::OpenUrl(page.clone()));
                }
                if ui.button("Open the sign-in page").clicked() {
                    intent = Some(Intent::OpenUrl(page.clone()));
                }
            });
            ui.add_space(6.0);
            ui.label("2. Enter this code:");
            ui.horizontal(|ui| {
                let code = ui.label(
                    RichText::new(&prompt.user_code)
                        .size(34.0)
                        .monospace()
                        .strong(),
                );
                code.widget_info(|| {
                    egui::WidgetInfo::labeled(
                        egui::Role::Label,
                        true,
                        format!("Code {}", prompt.user_code),
                    )
                });
                if ui.button("Copy code").clicked() {
                    intent = Some(Intent::CopyText {
                        text: prompt.user_code.clone(),
                        what: Copied::Code,
                    });
                }
            });
            ui.add_space(6.0);
            ui.horizontal(|ui| {
                qr_code(ui, &page, 132.0);
                ui.vertical(|ui| {
                    ui.label("On a phone? Scan this to open the page.");
                    ui.label(format!(
                        "The code expires in {}.",
                        crate::words::minutes_left(prompt.remaining())
                    ));
                    // No spinner: it would repaint every frame for up to 15 minutes. The countdown counts whole
                    // minutes, so the page repaints once a minute.
                    ui.label("Waiting for you to sign in. This page moves on by itself.");
                });
            });
            if ui.button("Cancel sign-in").clicked() {
                intent = Some(Intent::CancelSignIn);
            }
        }
        SignIn::WaitingForBrowser { url } => {
            // No spinner here either: the wait can be long, and an idle window must not repaint.
            ui.label(
                RichText::new("Finish the sign-in in your browser. This page moves on by itself.")
                    .strong(),
            );
            ui.add_space(6.0);
            let link = url.to_string();
            // The whole address is long and means nothing to a person: its host is enough to recognise it.
            ui.label(format!(
                "No browser opened? Copy the sign-in link (to {}) and paste it into one.",
                url.host_str().unwrap_or("Microsoft")
            ));
            ui.horizontal(|ui| {
                if ui.button("Copy link").clicked() {
                    intent = Some(Intent::CopyText {
                        text: link.clone(),
                        what: Copied::Link,
                    });
                }
                if ui.button("Cancel sign-in").clicked() {
                    intent = Some(Intent::CancelSignIn);
                }
            });
        }
        SignIn::CodeExpired => {
            ui.horizontal(|ui| {
                verdict_badge(
                    ui,
                    false,
                    "The code expired before the sign-in was finished",
                )
            });
            ui.label("Codes last 15 minutes. Get a new one and sign in straight away.");
            ui.horizontal(|ui| {
                if ui.button("Get a new code").clicked() {
                    intent = Some(Intent::StartSignIn(SignInMethod::DeviceCode));
                }
                if ui.button("Sign in with your browser").clicked() {
                    intent = Some(Intent::StartSignIn(SignInMethod::Browser));
                }
            });
        }
        SignIn::Failed(error) => {
            intent = failed_sign_in_ui(ui, page, error).or(intent.take());
        }
        SignIn::SignedIn { tokens } => {
            match page.mismatch() {
                None => {
                    let who = tokens
                        .account
                        .as_ref()
                        .map_or(expected.clone(), |account| account.username.clone());
                    ui.horizontal(|ui| verdict_badge(ui, true, &format!("Signed in as {who}")));
                    ui.label("Choose Next to check the connection.");
                }
                Some(error) => {
                    ui.horizontal(|ui| {
                        verdict_badge(ui, false, "Signed in with a different account")
                    });
                    ui.label(error.to_string());
                    advice_ui(
                        ui,
                        &crate::advice::for_sign_in(&error),
                        crate::advice::Surface::Window,
                    );
                }
            }
            ui.add_space(6.0);
            // Always a way out of a sign-in, right or wrong, without starting the wizard over.
            ui.horizontal(|ui| {
                if ui.button("Sign in again").clicked() {
                    intent = Some(Intent::SignInAgain);
                }
                if ui.button("Use another account").clicked() {
                    intent = Some(Intent::UseAnotherAccount);
                }
            });
        }
    }
    intent
}

/// A sign-in that did not work: the cause and fix, the ids to read out, and every way on. When only an IT admin
/// can help (consent), the approval request to send them; when the organisation blocks one sign-in method, the
/// other one first, with the reason.
fn failed_sign_in_ui(
    ui: &mut Ui,
    page: &SignInPage,
    error: &crate::auth::SignInError,
) -> Option<Intent> {
    use crate::advice::Method;
    let mut intent = None;
    let advice = crate::advice::for_sign_in(error);
    ui.horizontal(|ui| verdict_badge(ui, false, "Sign-in did not work"));
    ui.add_space(4.0);
    advice_ui(ui, &advice, crate::advice::Surface::Window);
    ui.add_space(6.0);
    ui.label(RichText::new(format!("Code: {}", error.code())).monospace());
    if let Some(identity) = error.identity() {
        for (label, value) in [
            ("Correlation id", identity.correlation_id.as_deref()),
            ("Trace id", identity.trace_id.as_deref()),
            ("Time", identity.timestamp.as_deref()),
        ] {
            if let Some(value) = value {
                ui.label(RichText::new(format!("{label}: {value}")).monospace());
            }
        }
    }
    ui.label(RichText::new(error.to_string()).small());
    if advice.entry.admin_consent {
        ui.add_space(8.0);
        intent = ask_it_admin_ui(ui, &page.account).or(intent.take());
    }
    ui.add_space(6.0);
    let suggested = advice.suggested_method(
        page.last_method
            .map(|method| method == SignInMethod::DeviceCode),
    );
    match suggested {
        Some(Method::Browser) => {
            ui.label(
                RichText::new(
                    "Suggested: sign in with your browser on this computer. Your organisation refused the code \
                     sign-in; the browser sign-in happens on this computer, which your organisation can recognise.",
                )
                .strong(),
            );
        }
        Some(Method::Code) => {
            ui.label(
                RichText::new(
                    "Suggested: sign in with a code. It works without a browser on this computer: any phone or \
                     computer can be used to sign in.",
                )
                .strong(),
            );
        }
        None => {}
    }
    ui.horizontal_wrapped(|ui| {
        let browser_first = suggested == Some(Method::Browser);
        let mut buttons = [
            (
                "Sign in with a code",
                Intent::StartSignIn(SignInMethod::DeviceCode),
            ),
            (
                "Sign in with your browser",
                Intent::StartSignIn(SignInMethod::Browser),
            ),
        ];
        if browser_first {
            buttons.reverse();
        }
        for (label, action) in buttons {
            if ui.button(label).clicked() {
                intent = Some(action);
            }
        }
        if ui.button("Use another account").clicked() {
            intent = Some(Intent::UseAnotherAccount);
        }
        if ui.button("Sign in again").clicked() {
            intent = Some(Intent::SignInAgain);
        }
        // "Try again" repeats the way that was tried; the advice for passing trouble names it.
        if let Some(method) = page.last_method
            && ui.button("Try again").clicked()
        {
            intent = Some(Intent::StartSignIn(method));
        }
        if ui.button("Copy support report").clicked() {
            intent = Some(Intent::CopySupportReport);
        }
    });
    intent
}

/// "Ask your IT admin": what the app gets, the approval link to copy, mail or scan, and the way back.
fn ask_it_admin_ui(ui: &mut Ui, account: &crate::config::Account) -> Option<Intent> {
    let mut intent = None;
    ui.label(RichText::new("Ask your IT admin").heading().strong());
    let request = match crate::consent::consent_request(account) {
        Ok(request) => request,
        Err(problem) => {
            ui.label(format!(
                "The approval link cannot be made from these settings: {problem}."
            ));
            return None;
        }
    };
    ui.label(format!(
        "Microsoft asks an administrator of {} to approve mailconnect once, for everyone there. Send them the link \
         below. The app acts only as the person who signs in: reading and changing their mail (IMAP), sending as \
         them (SMTP), staying signed in. No administrator rights.",
        request.tenant
    ));
    ui.add(egui::Label::new(RichText::new(&request.url).small().monospace()).wrap());
    ui.horizontal_wrapped(|ui| {
        if ui.button("Copy link").clicked() {
            intent = Some(Intent::CopyText {
                text: request.url.clone(),
                what: Copied::Link,
            });
        }
        if ui.button("Copy e-mail text").clicked() {
            intent = Some(Intent::CopyText {
                text: format!(
                    "Subject: {}\n\n{}",
                    request.email_subject, request.email_body
                ),
                what: Copied::Email,
            });
        }
        if ui.button("Open in e-mail program").clicked() {
            intent = Some(Intent::OpenUrl(request.mailto()));
        }
    });
    ui.horizontal(|ui| {
        qr_code(ui, &request.url, 132.0);
        ui.label("The IT admin can scan this on a phone to open the approval page.");
    });
    if ui.button("I have asked, try again").clicked() {
        intent = Some(Intent::SignInAgain);
    }
    intent
}
