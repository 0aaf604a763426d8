//! Progress of a long local run, on stderr: a bar when stderr is a terminal, plain lines
//! otherwise (logs and CI capture them): one when the plan is made, then one per tenth of the
//! changes settled or every few seconds, and one at the end. Counts only, never a name.

use indicatif::{ProgressBar, ProgressStyle};
use std::io::IsTerminal;
use std::sync::Mutex;
use std::time::{Duration, Instant};
use sync_core::Progress;

/// A plain line at least this often while changes are being applied.
const LINE_EVERY: Duration = Duration::from_secs(5);

pub enum StderrProgress {
    Bar(Mutex<Option<ProgressBar>>),
    Lines(Mutex<LineState>),
}

#[derive(Default)]
pub struct LineState {
    total: usize,
    done: usize,
    last_tenth: usize,
    last_line: Option<Instant>,
}

impl StderrProgress {
    pub fn for_stderr() -> Self {
        if std::io::stderr().is_terminal() {
            Self::Bar(Mutex::new(None))
        } else {
            Self::lines()
        }
    }

    pub fn lines() -> Self {
        Self::Lines(Mutex::new(LineState::default()))
    }
}

impl Progress for StderrProgress {
    fn planned(&self, changes: usize) {
        match self {
            Self::Bar(bar) => {
                if changes == 0 {
                    return;
                }
                let b = ProgressBar::new(changes as u64);
                b.set_style(
                    ProgressStyle::with_template(
                        "{spinner} applying [{bar:40}] {pos}/{len} changes ({eta} left)",
                    )
                    .expect("a valid template")
                    .progress_chars("=> "),
                );
                *bar.lock().expect("lock") = Some(b);
            }
            Self::Lines(state) => {
                let mut s = state.lock().expect("lock");
                *s = LineState {
                    total: changes,
                    ..LineState::default()
                };
                eprintln!("progress: {changes} changes planned");
            }
        }
    }

    fn settled_one(&self) {
        match self {
            Self::Bar(bar) => {
                if let Some(b) = bar.lock().expect("lock").as_ref() {
                    b.inc(1);
                }
            }
            Self::Lines(state) => {
                let mut s = state.lock().expect("lock");
                s.done += 1;
                let done = s.done;
                let tenth = (done * 10).checked_div(s.total).unwrap_or(10);
                let due = s.last_line.is_none_or(|at| at.elapsed() >= LINE_EVERY);
                if tenth > s.last_tenth || due {
                    s.last_tenth = tenth;
                    s.last_line = Some(Instant::now());
                    let percent = (done * 100).checked_div(s.total).unwrap_or(100);
                    eprintln!("progress: {done}/{} changes settled ({percent}%)", s.total);
                }
            }
        }
    }

    fn finished(&self) {
        match self {
            Self::Bar(bar) => {
                if let Some(b) = bar.lock().expect("lock").take() {
                    b.finish_and_clear();
                }
            }
            Self::Lines(state) => {
                let s = state.lock().expect("lock");
                eprintln!("progress: done, {}/{} changes settled", s.done, s.total);
            }
        }
    }
}
