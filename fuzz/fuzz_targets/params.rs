//! The parameter parser: form/query decoding (`auth::encode`), `Params` and every typed getter,
//! the name/description checks, every RPC product's parse of an action over arbitrary
//! parameters, and PAI-DSW's REST route (method, path, query, JSON body). Actions come from the
//! dictionary scripts/fuzz writes (every action name in crates/api) and the seed corpus.
#![no_main]

use arbitrary::Arbitrary;
use ecslab_api::auth::encode;
use ecslab_api::paidsw::PaiDsw;
use ecslab_api::params::{check_description, check_name, Params};
use ecslab_api::product::RestProduct;
use ecslab_fuzz::Method;
use libfuzzer_sys::fuzz_target;

#[derive(Debug, Arbitrary)]
struct Input {
    action: String,
    /// Decoded as a query string or form body.
    raw: Vec<u8>,
    pairs: Vec<(String, String)>,
    min: i64,
    max: i64,
    list_max: u8,
    method: Method,
    pai_path: String,
    body: Vec<u8>,
}

fuzz_target!(|input: Input| {
    let mut pairs = encode::form_decode(&input.raw);
    for (k, v) in &pairs {
        let _ = encode::percent_encode(k);
        let _ = encode::percent_encode(v);
    }
    pairs.extend(input.pairs.iter().cloned());
    let params = Params::from_pairs(pairs);
    let names: Vec<String> = params.iter().map(|(k, _)| k.clone()).collect();
    for name in names.iter().chain([&input.action]) {
        let list_max = usize::from(input.list_max);
        let _ = params.opt_str(name);
        let _ = params.str(name);
        let _ = params.opt_bool(name);
        let _ = params.bool_or(name, true);
        let _ = params.opt_int(name, input.min, input.max);
        let _ = params.json_list(name, list_max);
        let _ = params.repeat_list(name, list_max);
        let _ = params.struct_list(name, list_max);
        let _ = params.refuse(&[name.as_str()]);
        if let Some(value) = params.get(name) {
            let _ = check_name(value, "InvalidName", "name");
            let _ = check_description(value);
        }
    }
    let _ = params.tags();
    let _ = params.paging(input.max);
    ecslab_api::parse_with_every_rpc_product(&input.action, &params);
    let path = format!("/api/v2/instances/{}", input.pai_path);
    let _ = PaiDsw::route(&input.method.as_string(), &path, &params, &input.body);
});
