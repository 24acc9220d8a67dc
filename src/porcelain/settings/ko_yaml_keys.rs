//! How `.ko.yaml`'s keys are read, as ko reads them: viper and
//! mapstructure match a key without case (`defaultldflags`, `Main`) and
//! ignore a key they do not know, which rko records to warn about; a
//! list may be written as one string (ko's `FlagArray`, `StringArray`,
//! viper's string slices).

use crate::porcelain::settings::ko_yaml::{BuildConfig, ImageSettings, KoConfig};
use serde::de::{self, IgnoredAny, MapAccess, Visitor};
use serde::{Deserialize, Deserializer};
use std::collections::BTreeMap;
use std::fmt;

/// The top-level keys, as rko names them.
const TOP: [&str; 8] = [
    "defaultBaseImage",
    "baseImageOverrides",
    "defaultPlatforms",
    "defaultEnv",
    "defaultFlags",
    "defaultLdflags",
    "defaultImage",
    "builds",
];

/// The keys of a `builds[]` entry (ko's `build.Config`, and rko's `image`).
const BUILD: [&str; 8] = [
    "id",
    "dir",
    "main",
    "env",
    "flags",
    "ldflags",
    "linux_capabilities",
    "image",
];

/// The known key `key` stands for, matched without case; `None` for a
/// key ko ignores.
fn known(keys: &[&'static str], key: &str) -> Option<&'static str> {
    keys.iter().copied().find(|k| k.eq_ignore_ascii_case(key))
}

/// Reads a mapping key by key: `read` takes the value of each known key
/// (named as rko names it), the others are skipped and returned. A key
/// given twice (in two spellings) is an error: ko would take either.
fn each_key<'de, A: MapAccess<'de>>(
    mut map: A,
    keys: &[&'static str],
    mut read: impl FnMut(&'static str, &mut A) -> Result<(), A::Error>,
) -> Result<Vec<String>, A::Error> {
    let mut seen: Vec<&str> = Vec::new();
    let mut ignored = Vec::new();
    while let Some(key) = map.next_key::<String>()? {
        match known(keys, &key) {
            Some(name) if seen.contains(&name) => {
                return Err(de::Error::custom(format!(
                    "{name} is given twice (as {key:?} too): keys are matched without case"
                )))
            }
            Some(name) => {
                seen.push(name);
                read(name, &mut map)?;
            }
            None => {
                map.next_value::<IgnoredAny>()?;
                ignored.push(key);
            }
        }
    }
    Ok(ignored)
}

impl<'de> Deserialize<'de> for KoConfig {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct File;
        impl<'de> Visitor<'de> for File {
            type Value = KoConfig;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("a mapping of .ko.yaml keys")
            }
            fn visit_map<A: MapAccess<'de>>(self, map: A) -> Result<KoConfig, A::Error> {
                let mut c = KoConfig::default();
                c.ignored = each_key(map, &TOP, |name, map| {
                    match name {
                        "defaultBaseImage" => c.default_base_image = map.next_value()?,
                        "baseImageOverrides" => {
                            c.base_image_overrides = map
                                .next_value::<Option<BTreeMap<_, _>>>()?
                                .unwrap_or_default()
                        }
                        "defaultPlatforms" => c.default_platforms = map.next_value::<Fields>()?.0,
                        "defaultEnv" => c.default_env = map.next_value::<Fields>()?.0,
                        "defaultFlags" => c.default_flags = map.next_value::<Fields>()?.0,
                        "defaultLdflags" => c.default_ldflags = map.next_value::<Fields>()?.0,
                        "defaultImage" => {
                            c.default_image = map
                                .next_value::<Option<ImageSettings>>()?
                                .unwrap_or_default()
                        }
                        "builds" => {
                            c.builds = map.next_value::<Option<Vec<_>>>()?.unwrap_or_default()
                        }
                        _ => unreachable!("every key of TOP is read"),
                    }
                    Ok(())
                })?;
                Ok(c)
            }
        }
        deserializer.deserialize_map(File)
    }
}

impl<'de> Deserialize<'de> for BuildConfig {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct Entry;
        impl<'de> Visitor<'de> for Entry {
            type Value = BuildConfig;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("a builds[] entry (id, dir, main, env, flags, ldflags, ...)")
            }
            fn visit_map<A: MapAccess<'de>>(self, map: A) -> Result<BuildConfig, A::Error> {
                let mut b = BuildConfig::default();
                b.ignored = each_key(map, &BUILD, |name, map| {
                    match name {
                        "id" => b.id = map.next_value::<Option<Scalar>>()?.map(|s| s.0),
                        "dir" => b.dir = map.next_value::<Option<String>>()?.unwrap_or_default(),
                        "main" => b.main = map.next_value::<Option<String>>()?.unwrap_or_default(),
                        "env" => b.env = map.next_value::<Option<Vec<_>>>()?.unwrap_or_default(),
                        "flags" => b.flags = map.next_value::<Fields>()?.0,
                        "ldflags" => b.ldflags = map.next_value::<OneOrMany>()?.0,
                        "linux_capabilities" => {
                            b.linux_capabilities = map.next_value::<Fields>()?.0
                        }
                        "image" => {
                            b.image = map
                                .next_value::<Option<ImageSettings>>()?
                                .unwrap_or_default()
                        }
                        _ => unreachable!("every key of BUILD is read"),
                    }
                    Ok(())
                })?;
                Ok(b)
            }
        }
        deserializer.deserialize_map(Entry)
    }
}

/// A list, or one string split at whitespace (ko's `FlagArray`, viper's
/// string slices).
struct Fields(Vec<String>);

impl<'de> Deserialize<'de> for Fields {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        Ok(Fields(match StringOrList::deserialize(deserializer)? {
            StringOrList::One(s) => s.split_whitespace().map(str::to_string).collect(),
            StringOrList::Many(list) => list,
        }))
    }
}

/// A list, or one string as a list of one (ko's `StringArray`).
struct OneOrMany(Vec<String>);

impl<'de> Deserialize<'de> for OneOrMany {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        Ok(OneOrMany(match StringOrList::deserialize(deserializer)? {
            StringOrList::One(s) => vec![s],
            StringOrList::Many(list) => list,
        }))
    }
}

/// One string or a list of strings, read without buffering so that an
/// error keeps its line and column.
enum StringOrList {
    One(String),
    Many(Vec<String>),
}

impl<'de> Deserialize<'de> for StringOrList {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct Either;
        impl<'de> Visitor<'de> for Either {
            type Value = StringOrList;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("a list of strings, or one string")
            }
            fn visit_str<E: de::Error>(self, s: &str) -> Result<StringOrList, E> {
                Ok(StringOrList::One(s.to_string()))
            }
            fn visit_seq<A: de::SeqAccess<'de>>(
                self,
                mut seq: A,
            ) -> Result<StringOrList, A::Error> {
                let mut list = Vec::new();
                while let Some(item) = seq.next_element()? {
                    list.push(item);
                }
                Ok(StringOrList::Many(list))
            }
        }
        deserializer.deserialize_any(Either)
    }
}

/// A string, number or boolean read as text, as mapstructure's weak
/// typing (viper's decoder) reads `id: 1`.
struct Scalar(String);

impl<'de> Deserialize<'de> for Scalar {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        #[derive(Deserialize)]
        #[serde(untagged)]
        enum Any {
            Str(String),
            Int(i64),
            Float(f64),
            Bool(bool),
        }
        Ok(Scalar(match Any::deserialize(deserializer)? {
            Any::Str(s) => s,
            Any::Int(i) => i.to_string(),
            Any::Float(f) => f.to_string(),
            Any::Bool(b) => if b { "1" } else { "0" }.to_string(),
        }))
    }
}
