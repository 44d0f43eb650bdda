//! Enums whose variants have one name each, written once: the same text is the
//! JSON value, the metric label, the log field and what the dashboard shows.
//!
//! A declarative macro rather than a derive crate: it is twenty lines, and the
//! names stay greppable next to the variants they belong to.

/// Declares a field-less enum with one lower-case name per variant and derives
/// from it `as_str`, `ALL` (for initialising metric labels), `Display`,
/// `FromStr` and serde in both directions.
///
/// ```ignore
/// named_enum! {
///     /// A colour.
///     pub enum Colour {
///         /// Red.
///         Red = "red",
///     }
/// }
/// ```
macro_rules! named_enum {
    (
        $(#[$meta:meta])*
        $vis:vis enum $name:ident {
            $( $(#[$vmeta:meta])* $variant:ident = $text:literal, )+
        }
    ) => {
        $(#[$meta])*
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
        $vis enum $name {
            $( $(#[$vmeta])* $variant, )+
        }

        impl $name {
            /// Every variant, in declaration order.
            pub const ALL: &'static [Self] = &[$(Self::$variant),+];

            /// The variant's name.
            pub const fn as_str(self) -> &'static str {
                match self {
                    $( Self::$variant => $text, )+
                }
            }
        }

        impl ::std::fmt::Display for $name {
            fn fmt(&self, f: &mut ::std::fmt::Formatter<'_>) -> ::std::fmt::Result {
                f.write_str(self.as_str())
            }
        }

        impl ::std::str::FromStr for $name {
            type Err = $crate::named::UnknownName;

            fn from_str(text: &str) -> Result<Self, Self::Err> {
                Self::ALL
                    .iter()
                    .copied()
                    .find(|v| v.as_str() == text)
                    .ok_or_else(|| $crate::named::UnknownName {
                        kind: stringify!($name),
                        text: text.to_string(),
                        expected: Self::ALL.iter().map(|v| v.as_str()).collect(),
                    })
            }
        }

        impl ::serde::Serialize for $name {
            fn serialize<S: ::serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
                serializer.serialize_str(self.as_str())
            }
        }

        impl<'de> ::serde::Deserialize<'de> for $name {
            fn deserialize<D: ::serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
                let text = <::std::borrow::Cow<'de, str>>::deserialize(deserializer)?;
                text.parse().map_err(::serde::de::Error::custom)
            }
        }
    };
}

pub(crate) use named_enum;

/// A name that is not one of an enum's variants.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("unknown {kind} '{text}', expected one of {}", expected.join(", "))]
pub struct UnknownName {
    /// The enum's type name.
    pub kind: &'static str,
    /// What was given.
    pub text: String,
    /// Every valid name.
    pub expected: Vec<&'static str>,
}

#[cfg(test)]
mod tests {
    named_enum! {
        /// Test enum.
        pub enum Colour {
            /// A one-word name.
            Red = "red",
            /// A two-word name, in snake case.
            LightBlue = "light_blue",
        }
    }

    #[test]
    fn one_name_serves_display_parse_and_serde() {
        assert_eq!(Colour::LightBlue.to_string(), "light_blue");
        assert_eq!("red".parse::<Colour>(), Ok(Colour::Red));
        assert_eq!(
            serde_json::to_string(&Colour::ALL).ok().as_deref(),
            Some(r#"["red","light_blue"]"#)
        );
        assert_eq!(
            serde_json::from_str::<Colour>(r#""light_blue""#).ok(),
            Some(Colour::LightBlue)
        );
        let err = "blue".parse::<Colour>().expect_err("unknown");
        assert_eq!(
            err.to_string(),
            "unknown Colour 'blue', expected one of red, light_blue"
        );
    }
}
