// Validates the kustomize base in deploy/k8s against the Kubernetes OpenAPI
// schemas of the npm package kubernetes-models: every resource the
// kustomization lists, and the ConfigMap its configMapGenerator makes.
// To show the check can fail, a copy of each workload with a port given as a
// string must be refused.
//   node k8s_models_validate.mjs DEPLOY_K8S_DIR      (run from where node_modules is)
import fs from "node:fs";
import path from "node:path";
import yaml from "js-yaml";

const dir = process.argv[2];
const kustomization = yaml.load(fs.readFileSync(path.join(dir, "kustomization.yaml"), "utf8"));
const docs = [];
for (const file of kustomization.resources) {
  for (const doc of yaml.loadAll(fs.readFileSync(path.join(dir, file), "utf8"))) {
    if (doc) docs.push({ file, doc });
  }
}
for (const gen of kustomization.configMapGenerator ?? []) {
  const data = {};
  for (const file of gen.files) data[path.basename(file)] = fs.readFileSync(path.join(dir, file), "utf8");
  docs.push({ file: "configMapGenerator " + gen.name,
              doc: { apiVersion: "v1", kind: "ConfigMap", metadata: { name: gen.name }, data } });
}

async function modelOf(doc) {
  const module = await import(`kubernetes-models/${doc.apiVersion}/${doc.kind}`);
  return module[doc.kind];
}

let failures = 0;
for (const { file, doc } of docs) {
  const Model = await modelOf(doc);
  try {
    new Model(doc).validate();
    console.log(`ok: ${file}: ${doc.kind} ${doc.metadata.name} is valid ${doc.apiVersion}`);
  } catch (e) {
    console.log(`FAIL: ${file}: ${doc.kind} ${doc.metadata.name}: ${e.message}`);
    failures++;
  }
  if (doc.kind === "StatefulSet") {
    const broken = structuredClone(doc);
    broken.spec.template.spec.containers[0].ports[0].containerPort = "seventy-four";
    let refused = false;
    try { new Model(broken).validate(); } catch { refused = true; }
    console.log(`${refused ? "ok" : "FAIL"}: a ${doc.metadata.name} with a port given as text is refused`);
    if (!refused) failures++;
  }
}
const kinds = docs.map(d => d.doc.kind).sort().join(",");
if (kinds !== "ConfigMap,Service,StatefulSet,StatefulSet") {
  console.log(`FAIL: expected a ConfigMap, a Service and two StatefulSets, got ${kinds}`);
  failures++;
}
process.exit(failures === 0 ? 0 : 1);
