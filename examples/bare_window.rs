//! The startup benchmark's baseline: a bare eframe window built with mailconnect's eframe features, showing one
//! label. With `MAILCONNECT_EXIT_AFTER_FIRST_FRAME` set it reports its first frame and closes, as mailconnect does.

use eframe::egui;

struct Bare {
    frames_drawn: u64,
}

impl eframe::App for Bare {
    fn ui(&mut self, ui: &mut egui::Ui, _frame: &mut eframe::Frame) {
        self.frames_drawn += 1;
        if std::env::var_os(mailconnect::ui::EXIT_AFTER_FIRST_FRAME).is_some() {
            mailconnect::ui::report_first_frame(ui.ctx(), self.frames_drawn, "bare");
        }
        egui::CentralPanel::default().show(ui, |ui| ui.label("Hello"));
    }
}

fn main() -> eframe::Result {
    let options = eframe::NativeOptions {
        viewport: egui::ViewportBuilder::default().with_inner_size([720.0, 600.0]),
        renderer: eframe::Renderer::Glow,
        ..Default::default()
    };
    eframe::run_native(
        "bare",
        options,
        Box::new(|_| Ok(Box::new(Bare { frames_drawn: 0 }))),
    )
}
