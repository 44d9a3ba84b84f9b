//! Small widgets the steps share: the tick and cross with words, the fix steps, a QR code, a labelled field.

use eframe::egui;
use egui::{Color32, RichText, Ui};

use crate::advice::Advice;
use crate::config::InputError;

use super::theme::Palette;

/// The red of problems in the theme `ui` is drawn in.
pub fn fail_colour(ui: &Ui) -> Color32 {
    Palette::of(ui).fail
}

/// A green tick or a red cross, always with words beside it (never colour alone). The marks are drawn, not
/// taken from a font, so they show whatever fonts the system has.
pub fn verdict_badge(ui: &mut Ui, passed: bool, words: &str) {
    let palette = Palette::of(ui);
    let colour = if passed { palette.pass } else { palette.fail };
    let size = ui.text_style_height(&egui::TextStyle::Body) + 6.0;
    let (rect, _) = ui.allocate_exact_size(egui::vec2(size, size), egui::Sense::hover());
    let painter = ui.painter_at(rect);
    painter.circle_filled(rect.center(), size / 2.0, colour);
    // The mark takes the background's colour: it then contrasts with the disc in both themes.
    let stroke = egui::Stroke::new(size / 8.0, palette.background);
    let at = |x: f32, y: f32| rect.min + egui::vec2(x * size, y * size);
    if passed {
        painter.line(vec![at(0.27, 0.52), at(0.44, 0.69), at(0.74, 0.34)], stroke);
    } else {
        painter.line_segment([at(0.32, 0.32), at(0.68, 0.68)], stroke);
        painter.line_segment([at(0.68, 0.32), at(0.32, 0.68)], stroke);
    }
    ui.label(RichText::new(words).strong().color(colour));
}

/// The cause in plain words and the numbered fix.
pub fn advice_ui(ui: &mut Ui, advice: &Advice, surface: crate::advice::Surface) {
    ui.label(RichText::new(advice.cause).strong());
    ui.add_space(4.0);
    ui.label("How to fix it:");
    for (number, step) in advice.steps_for(surface, None).iter().enumerate() {
        ui.horizontal_wrapped(|ui| {
            ui.label(format!("{}.", number + 1));
            ui.label(step);
        });
    }
}

/// A label above a single-line text box, tied together for screen readers; the problem, if any, below it.
pub fn text_field(
    ui: &mut Ui,
    label: &str,
    value: &mut String,
    problem: Option<&InputError>,
    hint: &str,
) -> egui::Response {
    let label_response = ui.label(label);
    let response = ui
        .add(
            egui::TextEdit::singleline(value)
                .hint_text(hint)
                .desired_width(f32::INFINITY),
        )
        .labelled_by(label_response.id);
    if let Some(problem) = problem {
        ui.label(RichText::new(&problem.message).color(fail_colour(ui)));
    }
    response
}

/// A QR code of `text`, drawn as squares, labelled for screen readers.
pub fn qr_code(ui: &mut Ui, text: &str, side: f32) {
    let Ok(code) = qrcode::QrCode::new(text.as_bytes()) else {
        return;
    };
    let width = code.width();
    let colours = code.to_colors();
    let quiet_zone = 2;
    let modules = width + 2 * quiet_zone;
    let (rect, response) = ui.allocate_exact_size(egui::vec2(side, side), egui::Sense::hover());
    let painter = ui.painter_at(rect);
    painter.rect_filled(rect, 0.0, Color32::WHITE);
    let module = side / modules as f32;
    for (index, colour) in colours.iter().enumerate() {
        if *colour == qrcode::Color::Dark {
            let (x, y) = (index % width + quiet_zone, index / width + quiet_zone);
            let min = rect.min + egui::vec2(x as f32 * module, y as f32 * module);
            painter.rect_filled(
                egui::Rect::from_min_size(min, egui::vec2(module, module)),
                0.0,
                Color32::BLACK,
            );
        }
    }
    response.widget_info(|| {
        egui::WidgetInfo::labeled(egui::Role::Image, true, format!("QR code for {text}"))
    });
}

/// A framed note across the page (why the wizard opened, a way on from Explain): `contents` inside, a gap after.
pub fn note_ui(ui: &mut Ui, contents: impl FnOnce(&mut Ui)) {
    let palette = super::theme::Palette::of(ui);
    egui::Frame::new()
        .stroke(egui::Stroke::new(1.0, palette.control_edge))
        .corner_radius(4.0)
        .inner_margin(egui::Margin::same(8))
        .show(ui, |ui| {
            ui.set_width(ui.available_width());
            contents(ui);
        });
    ui.add_space(8.0);
}
