//! Which flags a rendered file depends on, per stage. The template context
//! exposes flags through [`RecordingFlags`] maps that note every value a
//! template reads (an attribute, an item, an iteration, a `to_json` of the
//! whole map), and the `flag()` helper notes its calls, into the
//! [`Recorder`] of that one render. A read of a flag's value in a stage is
//! a [`FlagRead`]; a value that stands for every stage (a flag with one
//! value everywhere, read outside a per-environment file) is a read in
//! every stage the registry declares. Reads are conservative: a template
//! that reads a flag and then ignores it still depends on it.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::{Arc, Mutex};

use minijinja::value::{Enumerator, Object, ObjectRepr, Value as JValue};
use serde::Serialize;

/// A flag read in one stage.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
pub struct FlagRead {
    pub flag: String,
    pub stage: String,
}

impl FlagRead {
    pub fn new(flag: &str, stage: &str) -> FlagRead {
        FlagRead {
            flag: flag.to_string(),
            stage: stage.to_string(),
        }
    }
}

/// The reads of one render (the target path and the content), shared by
/// the context's recording maps and the `flag()` helper. It is itself a
/// template value (under [`RECORDER_KEY`]) so that helpers find it.
#[derive(Debug, Default, Clone)]
pub struct Recorder(Arc<Mutex<BTreeSet<FlagRead>>>);

/// Where the recorder sits in the template context (not a name a template
/// would use; reading it gives an object with no attributes).
pub const RECORDER_KEY: &str = "__distributor_flag_reads";

impl Recorder {
    pub fn note<'a>(&self, reads: impl IntoIterator<Item = &'a FlagRead>) {
        let mut set = self
            .0
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        set.extend(reads.into_iter().cloned());
    }

    /// The reads so far, sorted.
    pub fn reads(&self) -> Vec<FlagRead> {
        let set = self
            .0
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        set.iter().cloned().collect()
    }

    /// The recorder as a template value.
    pub fn value(&self) -> JValue {
        JValue::from_object(self.clone())
    }

    /// The recorder of a render context, if it has one.
    pub fn of(value: &JValue) -> Option<&Recorder> {
        value.downcast_object_ref::<Recorder>()
    }
}

impl Object for Recorder {
    fn repr(self: &Arc<Self>) -> ObjectRepr {
        ObjectRepr::Plain
    }

    fn get_value(self: &Arc<Self>, _key: &JValue) -> Option<JValue> {
        None
    }
}

/// One entry of a recording map: the value a template sees and what reading
/// it means.
#[derive(Debug)]
struct Entry {
    value: JValue,
    reads: Vec<FlagRead>,
}

/// A map of flags (name -> value, or stage -> value inside a per-stage
/// flag) that notes each value read.
#[derive(Debug)]
pub struct RecordingFlags {
    entries: BTreeMap<String, Entry>,
    recorder: Recorder,
}

impl Object for RecordingFlags {
    fn repr(self: &Arc<Self>) -> ObjectRepr {
        ObjectRepr::Map
    }

    fn get_value(self: &Arc<Self>, key: &JValue) -> Option<JValue> {
        let entry = self.entries.get(key.as_str()?)?;
        self.recorder.note(&entry.reads);
        Some(entry.value.clone())
    }

    fn enumerate(self: &Arc<Self>) -> Enumerator {
        Enumerator::Values(
            self.entries
                .keys()
                .map(|k| JValue::from(k.as_str()))
                .collect(),
        )
    }

    fn enumerator_len(self: &Arc<Self>) -> Option<usize> {
        Some(self.entries.len())
    }
}

/// A recording map of `entries`.
fn recording(entries: BTreeMap<String, Entry>, recorder: &Recorder) -> JValue {
    JValue::from_object(RecordingFlags {
        entries,
        recorder: recorder.clone(),
    })
}

/// A map `key -> on` whose read of `key` is `read(key)`.
fn booleans(
    values: &BTreeMap<String, bool>,
    read: impl Fn(&str) -> FlagRead,
    recorder: &Recorder,
) -> JValue {
    let entries = values
        .iter()
        .map(|(key, on)| {
            let entry = Entry {
                value: JValue::from(*on),
                reads: vec![read(key)],
            };
            (key.clone(), entry)
        })
        .collect();
    recording(entries, recorder)
}

/// The flags of one environment (`flags` in a per-environment file, and
/// `environments[i].flags`): each read is a read in `stage`.
pub fn for_stage(flags: &BTreeMap<String, bool>, stage: &str, recorder: &Recorder) -> JValue {
    booleans(flags, |name| FlagRead::new(name, stage), recorder)
}

/// The flags of a file rendered once per repo (`flags`): a flag with one
/// value for every stage is that value, read in every stage; any other is
/// a map stage -> value, each stage read on its own.
pub fn for_repo(
    by_stage: &BTreeMap<String, BTreeMap<String, bool>>,
    uniform: &BTreeMap<String, bool>,
    recorder: &Recorder,
) -> JValue {
    let entries = by_stage
        .iter()
        .map(|(name, per_stage)| {
            let entry = match uniform.get(name) {
                Some(on) => Entry {
                    value: JValue::from(*on),
                    reads: per_stage.keys().map(|s| FlagRead::new(name, s)).collect(),
                },
                None => Entry {
                    value: per_stage_map(name, per_stage, recorder),
                    reads: Vec::new(),
                },
            };
            (name.clone(), entry)
        })
        .collect();
    recording(entries, recorder)
}

/// One flag's values by stage, each stage read on its own (also what
/// `flags_by_stage` holds for the `flag()` helper).
pub fn per_stage_map(
    name: &str,
    per_stage: &BTreeMap<String, bool>,
    recorder: &Recorder,
) -> JValue {
    booleans(per_stage, |stage| FlagRead::new(name, stage), recorder)
}

/// `flags_by_stage`: flag -> its [`per_stage_map`].
pub fn by_stage(
    by_stage: &BTreeMap<String, BTreeMap<String, bool>>,
    recorder: &Recorder,
) -> JValue {
    let entries = by_stage
        .iter()
        .map(|(name, per_stage)| {
            let entry = Entry {
                value: per_stage_map(name, per_stage, recorder),
                reads: Vec::new(),
            };
            (name.clone(), entry)
        })
        .collect();
    recording(entries, recorder)
}
