//! JSON → XML for `Format=XML` replies. ECS's JSON lists mirror its XML (`{"Instances":
//! {"Instance":[a,b]}}` is `<Instances><Instance>a</Instance><Instance>b</Instance></Instances>`),
//! so one generic conversion serves every action.
//!
//! The output is always well-formed XML 1.0, whatever a client managed to store: XML 1.0 cannot
//! carry U+0000-U+0008, U+000B, U+000C, U+000E-U+001F, U+FFFE or U+FFFF, not even as character
//! references, so [`text`] writes U+FFFD in their place (JSON replies keep the exact value). A
//! carriage return is written as `&#13;` so that parsers do not fold it into a line feed, and an
//! object key that is not an XML name (keys are fixed by the API, but a map could carry user
//! text) has its offending characters replaced by `_`.

use serde_json::Value;

/// The character written in place of one XML 1.0 cannot carry.
pub const REPLACEMENT: char = '\u{FFFD}';

pub fn to_xml(root: &str, value: &Value) -> String {
    let mut out = String::from("<?xml version=\"1.0\" encoding=\"UTF-8\"?>");
    element(&mut out, &name(root), value);
    out
}

fn element(out: &mut String, name_: &str, value: &Value) {
    match value {
        Value::Array(items) => {
            for item in items {
                element(out, name_, item);
            }
        }
        Value::Object(fields) => {
            out.push_str(&format!("<{name_}>"));
            for (key, child) in fields {
                element(out, &name(key), child);
            }
            out.push_str(&format!("</{name_}>"));
        }
        Value::Null => out.push_str(&format!("<{name_}/>")),
        Value::String(s) => out.push_str(&format!("<{name_}>{}</{name_}>", text(s))),
        other => out.push_str(&format!("<{name_}>{other}</{name_}>")),
    }
}

/// May `c` appear in an XML 1.0 document at all (the `Char` production)?
pub fn is_xml_char(c: char) -> bool {
    matches!(c, '\t' | '\n' | '\r' | '\u{20}'..='\u{D7FF}' | '\u{E000}'..='\u{FFFD}' | '\u{10000}'..)
}

/// `s` as XML character data (also safe inside a double-quoted attribute value).
pub fn text(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\r' => out.push_str("&#13;"),
            c if is_xml_char(c) => out.push(c),
            _ => out.push(REPLACEMENT),
        }
    }
    out
}

/// `key` as an XML element name: characters a name cannot hold become `_`, and a name that
/// cannot start as it does gets a leading `_`.
fn name(key: &str) -> String {
    let ok = |c: char| c.is_alphanumeric() || matches!(c, '_' | '-' | '.');
    let mut out: String = key.chars().map(|c| if ok(c) { c } else { '_' }).collect();
    let starts_well = out.chars().next().is_some_and(|c| c.is_alphabetic() || c == '_');
    let reserved = out.get(..3).is_some_and(|p| p.eq_ignore_ascii_case("xml"));
    if !starts_well || reserved {
        out.insert(0, '_');
    }
    out
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    #[test]
    fn lists_become_repeated_elements() {
        let xml = super::to_xml("R", &json!({"Ids": {"Id": ["a", "b<"]}, "N": 2}));
        assert!(xml.ends_with("<R><Ids><Id>a</Id><Id>b&lt;</Id></Ids><N>2</N></R>"), "{xml}");
    }

    /// Every character XML 1.0 forbids, in text and in keys, still gives a document a strict
    /// parser accepts, with U+FFFD where the forbidden character was.
    #[test]
    fn forbidden_characters_never_break_the_document() {
        let mut hostile = String::new();
        for c in
            (0u32..0x20).chain([0x7F, 0xFFFE, 0xFFFF, 0xD7FF, 0xE000, 0x1F600]).filter_map(char::from_u32)
        {
            hostile.push(c);
        }
        hostile.push_str("&<>\"' ]]> <![CDATA[ &#1; end");
        let value = json!({
            "Description": hostile,
            "Items": {"Item": [hostile.clone(), "plain"]},
            "Map": {"1bad key\u{1}": "v", "xmlKey": "w", "": "e"},
            "Null": null,
            "Flag": true,
        });
        let xml = super::to_xml("DescribeDisksResponse", &value);
        let doc = roxmltree::Document::parse(&xml).unwrap_or_else(|e| panic!("{e}: {xml:?}"));
        let description = doc.descendants().find(|n| n.has_tag_name("Description")).unwrap().text().unwrap();
        let expected: String =
            hostile.chars().map(|c| if super::is_xml_char(c) { c } else { super::REPLACEMENT }).collect();
        assert_eq!(description, expected);
        assert!(
            description.contains('\r') && description.contains('\t') && description.contains('\u{1F600}')
        );
        assert_eq!(description.matches(super::REPLACEMENT).count(), 32 - 3 + 2);
        let items: Vec<_> = doc.descendants().filter(|n| n.has_tag_name("Item")).map(|n| n.text()).collect();
        assert_eq!(items, [Some(expected.as_str()), Some("plain")]);
        let keys: Vec<_> = doc
            .descendants()
            .find(|n| n.has_tag_name("Map"))
            .unwrap()
            .children()
            .map(|n| n.tag_name().name().to_string())
            .collect();
        assert_eq!(keys, ["_", "_1bad_key_", "_xmlKey"]);
    }

    #[test]
    fn json_keeps_the_exact_value() {
        let value = json!({"Name": "a\u{0}b\u{1}c\u{FFFF}"});
        let back: serde_json::Value = serde_json::from_str(&value.to_string()).unwrap();
        assert_eq!(back["Name"], "a\u{0}b\u{1}c\u{FFFF}");
    }
}
