//! JSON → XML for `Format=XML` replies. ECS's JSON lists mirror its XML (`{"Instances":
//! {"Instance":[a,b]}}` is `<Instances><Instance>a</Instance><Instance>b</Instance></Instances>`),
//! so one generic conversion serves every action.

use serde_json::Value;

pub fn to_xml(root: &str, value: &Value) -> String {
    let mut out = String::from("<?xml version=\"1.0\" encoding=\"UTF-8\"?>");
    element(&mut out, root, value);
    out
}

fn element(out: &mut String, name: &str, value: &Value) {
    match value {
        Value::Array(items) => {
            for item in items {
                element(out, name, item);
            }
        }
        Value::Object(fields) => {
            out.push_str(&format!("<{name}>"));
            for (key, child) in fields {
                element(out, key, child);
            }
            out.push_str(&format!("</{name}>"));
        }
        Value::Null => out.push_str(&format!("<{name}/>")),
        Value::String(s) => out.push_str(&format!("<{name}>{}</{name}>", escape(s))),
        other => out.push_str(&format!("<{name}>{other}</{name}>")),
    }
}

fn escape(s: &str) -> String {
    s.replace('&', "&amp;").replace('<', "&lt;").replace('>', "&gt;").replace('"', "&quot;")
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    #[test]
    fn lists_become_repeated_elements() {
        let xml = super::to_xml("R", &json!({"Ids": {"Id": ["a", "b<"]}, "N": 2}));
        assert!(xml.ends_with("<R><Ids><Id>a</Id><Id>b&lt;</Id></Ids><N>2</N></R>"), "{xml}");
    }
}
