//! The window's colours for the dark and the light theme, chosen for WCAG AA contrast: body text at least 4.5:1
//! against its background, large text and the edges of controls at least 3:1. A test computes every ratio.

use eframe::egui;
use egui::{Color32, Stroke, Theme};

/// The colours of one theme.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Palette {
    pub background: Color32,
    pub text: Color32,
    /// Secondary text (the steps not current in the breadcrumb, hints).
    pub weak_text: Color32,
    /// The tick and "Connected", "Saved".
    pub pass: Color32,
    /// The cross, problems under a field, "Not connected".
    pub fail: Color32,
    pub link: Color32,
    /// The edge of buttons, tick boxes and text boxes.
    pub control_edge: Color32,
    /// The fill of buttons and tick boxes, and the text on them.
    pub control_fill: Color32,
    pub control_text: Color32,
    /// The fill of a control under the pointer.
    pub control_fill_hovered: Color32,
    /// The ring around the control that has the keyboard focus (and one being pressed).
    pub focus: Color32,
}

pub const DARK: Palette = Palette {
    background: Color32::from_gray(27),
    text: Color32::from_gray(210),
    weak_text: Color32::from_gray(160),
    pass: Color32::from_rgb(0x4c, 0xc7, 0x6a),
    fail: Color32::from_rgb(0xff, 0x7b, 0x72),
    link: Color32::from_rgb(0x7c, 0xbc, 0xff),
    control_edge: Color32::from_gray(140),
    control_fill: Color32::from_gray(60),
    control_text: Color32::from_gray(235),
    control_fill_hovered: Color32::from_gray(82),
    focus: Color32::from_rgb(0x7c, 0xbc, 0xff),
};

pub const LIGHT: Palette = Palette {
    background: Color32::from_gray(248),
    text: Color32::from_gray(40),
    weak_text: Color32::from_gray(95),
    pass: Color32::from_rgb(0x13, 0x73, 0x33),
    fail: Color32::from_rgb(0xc5, 0x22, 0x1f),
    link: Color32::from_rgb(0x0b, 0x57, 0xd0),
    control_edge: Color32::from_gray(118),
    control_fill: Color32::from_gray(230),
    control_text: Color32::from_gray(20),
    control_fill_hovered: Color32::from_gray(210),
    focus: Color32::from_rgb(0x0b, 0x57, 0xd0),
};

impl Palette {
    pub fn for_theme(theme: Theme) -> Palette {
        match theme {
            Theme::Dark => DARK,
            Theme::Light => LIGHT,
        }
    }

    /// The palette of the theme `ui` is drawn in.
    pub fn of(ui: &egui::Ui) -> Palette {
        Palette::for_theme(if ui.visuals().dark_mode {
            Theme::Dark
        } else {
            Theme::Light
        })
    }
}

/// Puts both palettes into egui's styles; egui then follows the system's theme, or the one chosen in the window.
pub fn apply(ctx: &egui::Context) {
    for theme in [Theme::Dark, Theme::Light] {
        let palette = Palette::for_theme(theme);
        ctx.style_mut_of(theme, |style| {
            let visuals = &mut style.visuals;
            visuals.panel_fill = palette.background;
            visuals.window_fill = palette.background;
            visuals.override_text_color = None;
            visuals.weak_text_color = Some(palette.weak_text);
            visuals.hyperlink_color = palette.link;
            visuals.error_fg_color = palette.fail;
            visuals.widgets.noninteractive.fg_stroke.color = palette.text;
            // Resting, under the pointer, and focused or pressed each look different: a person using the keyboard
            // sees where the focus is, and one using the mouse sees what a click would hit.
            for widget in [
                &mut visuals.widgets.inactive,
                &mut visuals.widgets.hovered,
                &mut visuals.widgets.active,
                &mut visuals.widgets.open,
            ] {
                widget.fg_stroke.color = palette.control_text;
                widget.bg_fill = palette.control_fill;
                widget.weak_bg_fill = palette.control_fill;
                widget.bg_stroke = Stroke::new(1.0, palette.control_edge);
                widget.expansion = 0.0;
            }
            let hovered = &mut visuals.widgets.hovered;
            hovered.bg_fill = palette.control_fill_hovered;
            hovered.weak_bg_fill = palette.control_fill_hovered;
            hovered.bg_stroke = Stroke::new(1.5, palette.control_text);
            for focused in [&mut visuals.widgets.active, &mut visuals.widgets.open] {
                focused.bg_stroke = Stroke::new(2.5, palette.focus);
                focused.expansion = 1.0;
            }
            // A focused text box draws its edge with the selection stroke.
            visuals.selection.stroke = Stroke::new(2.0, palette.focus);
        });
    }
}

/// WCAG 2 relative luminance of an opaque colour.
pub fn luminance(colour: Color32) -> f64 {
    let channel = |value: u8| {
        let c = f64::from(value) / 255.0;
        if c <= 0.039_28 {
            c / 12.92
        } else {
            ((c + 0.055) / 1.055).powf(2.4)
        }
    };
    0.2126 * channel(colour.r()) + 0.7152 * channel(colour.g()) + 0.0722 * channel(colour.b())
}

/// WCAG 2 contrast ratio between two opaque colours (1 to 21).
pub fn contrast(a: Color32, b: Color32) -> f64 {
    let (la, lb) = (luminance(a), luminance(b));
    (la.max(lb) + 0.05) / (la.min(lb) + 0.05)
}

#[cfg(test)]
mod tests {
    use super::*;

    const BODY: f64 = 4.5;
    const LARGE_OR_CONTROL: f64 = 3.0;

    /// The regression this guards: one look for every state, so keyboard focus and hover could not be seen.
    #[test]
    fn resting_hovered_and_focused_controls_look_different_in_both_themes() {
        let ctx = egui::Context::default();
        apply(&ctx);
        for theme in [Theme::Dark, Theme::Light] {
            let widgets = ctx.style_of(theme).visuals.widgets.clone();
            let look = |w: &egui::style::WidgetVisuals| (w.bg_fill, w.bg_stroke);
            assert_ne!(
                look(&widgets.inactive),
                look(&widgets.hovered),
                "{theme:?}: hover"
            );
            assert_ne!(
                look(&widgets.inactive),
                look(&widgets.active),
                "{theme:?}: focus"
            );
            assert_ne!(
                look(&widgets.hovered),
                look(&widgets.active),
                "{theme:?}: focus under the pointer"
            );
            assert!(
                widgets.active.bg_stroke.width >= 2.0,
                "{theme:?}: a focus ring at least 2 points wide"
            );
        }
    }

    #[test]
    fn the_formula_matches_known_ratios() {
        assert!((contrast(Color32::BLACK, Color32::WHITE) - 21.0).abs() < 0.01);
        assert!((contrast(Color32::from_gray(118), Color32::WHITE) - 4.54).abs() < 0.02);
    }

    #[test]
    fn every_colour_pair_the_window_draws_meets_wcag_aa_in_both_themes() {
        // The colours as egui will use them, read back from the styles after `apply`.
        let ctx = egui::Context::default();
        apply(&ctx);
        for theme in [Theme::Dark, Theme::Light] {
            let palette = Palette::for_theme(theme);
            let style = ctx.style_of(theme);
            let visuals = &style.visuals;
            let background = visuals.panel_fill;
            let pairs = [
                ("body text", visuals.text_color(), background, BODY),
                (
                    "secondary text",
                    visuals.weak_text_color(),
                    background,
                    BODY,
                ),
                ("link", visuals.hyperlink_color, background, BODY),
                ("error text", visuals.error_fg_color, background, BODY),
                ("pass words", palette.pass, background, BODY),
                ("fail words", palette.fail, background, BODY),
                (
                    "button text",
                    visuals.widgets.inactive.fg_stroke.color,
                    visuals.widgets.inactive.bg_fill,
                    BODY,
                ),
                (
                    "edge of a tick box or button",
                    visuals.widgets.inactive.bg_stroke.color,
                    background,
                    LARGE_OR_CONTROL,
                ),
                (
                    "text box edge",
                    visuals.widgets.inactive.bg_stroke.color,
                    visuals.extreme_bg_color,
                    LARGE_OR_CONTROL,
                ),
                (
                    "tick or cross mark on its disc",
                    palette.background,
                    palette.pass,
                    LARGE_OR_CONTROL,
                ),
                (
                    "cross mark on its disc",
                    palette.background,
                    palette.fail,
                    LARGE_OR_CONTROL,
                ),
                (
                    "button text under the pointer",
                    visuals.widgets.hovered.fg_stroke.color,
                    visuals.widgets.hovered.bg_fill,
                    BODY,
                ),
                (
                    "edge of a control under the pointer",
                    visuals.widgets.hovered.bg_stroke.color,
                    background,
                    LARGE_OR_CONTROL,
                ),
                (
                    "focus ring",
                    visuals.widgets.active.bg_stroke.color,
                    background,
                    LARGE_OR_CONTROL,
                ),
                (
                    "focus ring on a control",
                    visuals.widgets.active.bg_stroke.color,
                    visuals.widgets.active.bg_fill,
                    LARGE_OR_CONTROL,
                ),
                (
                    "edge of a focused text box",
                    visuals.selection.stroke.color,
                    visuals.extreme_bg_color,
                    LARGE_OR_CONTROL,
                ),
            ];
            for (what, foreground, behind, minimum) in pairs {
                let ratio = contrast(foreground, behind);
                assert!(
                    ratio >= minimum,
                    "{theme:?}: {what} is {ratio:.2}:1, needs {minimum}:1 ({foreground:?} on {behind:?})"
                );
            }
        }
    }
}
