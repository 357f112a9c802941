// The compose files against the Compose Specification, offline: the official JSON schema (compose-spec.json, as
// shipped in the dclint package, pinned to an exact version in package.json) checked with ajv, after parsing the YAML
// as Compose does (anchors and `<<` merge keys resolved). No Docker engine is needed. Then what the schema cannot
// know: the cluster file really has three RabbitMQ nodes, two apps whose AMQP_URL lists the three in different
// orders, quorum queues, and every file it mounts exists. A broken copy proves the validator rejects things.
import { existsSync, readFileSync } from 'node:fs';
import path from 'node:path';
import Ajv, { type ValidateFunction } from 'ajv';
import draft07 from 'ajv/dist/refs/json-schema-draft-07.json';
import { parseDocument } from 'yaml';

const root = path.resolve(__dirname, '../..');
const dockerDir = path.join(root, 'docker');
const schemaPath = path.join(path.dirname(require.resolve('dclint/package.json')), 'schemas', 'compose.schema.json');

type Obj = Record<string, any>;

function loadCompose(file: string): Obj {
  const doc = parseDocument(readFileSync(file, 'utf8'), { merge: true, uniqueKeys: true, prettyErrors: true });
  if (doc.errors.length > 0) throw new Error(`${file}: ${doc.errors.map((e) => e.message).join('; ')}`);
  if (doc.warnings.length > 0) throw new Error(`${file}: ${doc.warnings.map((e) => e.message).join('; ')}`);
  return doc.toJS({ maxAliasCount: 100 }) as Obj;
}

function compileSchema(): ValidateFunction {
  const schema = JSON.parse(readFileSync(schemaPath, 'utf8')) as Obj;
  // The schema names its meta-schema by the https URL; ajv knows draft-07 by the http one: the same document.
  const ajv = new Ajv({ allErrors: true, allowUnionTypes: true, strictTypes: false });
  ajv.addMetaSchema({ ...draft07, $id: 'https://json-schema.org/draft-07/schema' });
  return ajv.compile(schema);
}

const errorsOf = (validate: ValidateFunction, doc: unknown): string[] =>
  validate(doc) ? [] : (validate.errors ?? []).map((e) => `${e.instancePath || '/'} ${e.message} ${JSON.stringify(e.params)}`);

/** environment as a map, whichever of the two forms (map or KEY=VALUE list) the file uses */
function envOf(service: Obj): Record<string, string> {
  const env = service.environment ?? {};
  if (Array.isArray(env)) return Object.fromEntries(env.map((kv: string) => [kv.slice(0, kv.indexOf('=')), kv.slice(kv.indexOf('=') + 1)]));
  return Object.fromEntries(Object.entries(env).map(([k, v]) => [k, String(v)]));
}

/** the host part of each URL in a comma-separated AMQP_URL (compose variables left as they are) */
const amqpHosts = (url: string): string[] => url.split(',').map((u) => /@([^:/,]+)(?::\d+)?\/?$/.exec(u.trim())?.[1] ?? `unparsed:${u}`);

/** bind mounts' host paths (short syntax "./x:/y[:ro]" or long syntax), relative to the compose file's folder */
function bindSources(service: Obj): string[] {
  return (service.volumes ?? [])
    .map((v: string | Obj) => (typeof v === 'string' ? v.split(':')[0]! : v.type === 'bind' ? String(v.source) : ''))
    .filter((s: string) => s.startsWith('.') || s.startsWith('/'));
}

const composeFile = path.join(dockerDir, 'compose.yaml');
const clusterFile = path.join(dockerDir, 'compose.cluster.yaml');

describe('compose files against the Compose Specification (compose-spec.json from dclint, ajv)', () => {
  const validate = compileSchema();

  it('uses the official schema, pinned', () => {
    const schema = JSON.parse(readFileSync(schemaPath, 'utf8')) as Obj;
    expect(schema.title).toBe('Compose Specification');
    expect(schema.$id).toBe('compose_spec.json');
    const pkg = JSON.parse(readFileSync(path.join(root, 'package.json'), 'utf8')) as Obj;
    // an exact version: a new release of the schema changes what passes only when someone bumps it here
    expect(pkg.devDependencies.dclint).toMatch(/^\d+\.\d+\.\d+$/);
  });

  it.each([
    ['docker/compose.yaml', composeFile],
    ['docker/compose.cluster.yaml', clusterFile],
  ])('%s is valid', (_name, file) => {
    expect(errorsOf(validate, loadCompose(file))).toEqual([]);
  });

  it.each([
    ['docker/compose.yaml', composeFile],
    ['docker/compose.cluster.yaml', clusterFile],
  ])('%s: every depends_on service_healthy has a healthcheck, every mounted file and build file exists', (_name, file) => {
    const doc = loadCompose(file);
    for (const [name, svc] of Object.entries<Obj>(doc.services)) {
      for (const [dep, cond] of Object.entries<Obj>(Array.isArray(svc.depends_on) ? {} : (svc.depends_on ?? {}))) {
        expect(doc.services[dep]).toBeDefined();
        if (cond.condition === 'service_healthy') expect({ dep, healthcheck: doc.services[dep].healthcheck?.test }).toEqual({ dep, healthcheck: expect.anything() });
      }
      for (const src of bindSources(svc)) expect({ name, src, exists: existsSync(path.resolve(dockerDir, src)) }).toEqual({ name, src, exists: true });
      if (svc.build) {
        const context = path.resolve(dockerDir, svc.build.context ?? svc.build);
        expect(existsSync(path.join(context, svc.build.dockerfile ?? 'Dockerfile'))).toBe(true);
      }
      for (const s of svc.secrets ?? []) expect(doc.secrets?.[typeof s === 'string' ? s : s.source]).toBeDefined();
      for (const c of svc.configs ?? []) expect(doc.configs?.[typeof c === 'string' ? c : c.source]).toBeDefined();
    }
  });

  describe('the cluster file', () => {
    const doc = loadCompose(clusterFile);
    const services = Object.entries<Obj>(doc.services);
    const rabbits = services.filter(([, s]) => String(s.image ?? '').startsWith('rabbitmq:'));
    const apps = services.filter(([, s]) => s.build);

    it('has three RabbitMQ 3.13 nodes clustered by classic config, with the least-privilege user on each', () => {
      expect(rabbits).toHaveLength(3);
      const conf = readFileSync(path.join(dockerDir, 'rabbitmq-cluster.conf'), 'utf8');
      expect(conf).toMatch(/^cluster_formation\.peer_discovery_backend\s*=\s*classic_config$/m);
      const listed = [...conf.matchAll(/^cluster_formation\.classic_config\.nodes\.\d+\s*=\s*(\S+)$/gm)].map((m) => m[1]);
      expect(listed.sort()).toEqual(rabbits.map(([, s]) => `rabbit@${s.hostname}`).sort());
      for (const [, s] of rabbits) {
        expect(s.image).toBe('rabbitmq:3.13-management');
        expect(s.secrets).toContain('erlang-cookie');
        expect(s.healthcheck.test).toBeDefined();
        expect(envOf(s).RABBITMQ_DEFAULT_USER).toBe('mail');
        const mounts = (s.volumes as string[]).map((v) => v.split(':').slice(0, 2).join(':'));
        expect(mounts).toEqual(expect.arrayContaining([
          './rabbitmq/20-least-privilege.conf:/etc/rabbitmq/conf.d/20-least-privilege.conf',
          './rabbitmq-cluster.conf:/etc/rabbitmq/conf.d/30-cluster.conf',
        ]));
      }
      // one Erlang cookie for all, from a secret, never a container's environment
      expect(doc.secrets['erlang-cookie']).toBeDefined();
      for (const [, s] of services) expect(Object.keys(envOf(s))).not.toContain('RABBITMQ_ERLANG_COOKIE');
    });

    it('has two app instances whose AMQP_URL lists the three nodes in different orders, with quorum queues and the API', () => {
      expect(apps).toHaveLength(2);
      const nodes = rabbits.map(([name]) => name).sort();
      const orders = apps.map(([, s]) => {
        const env = envOf(s);
        expect(env.MQ_QUEUE_TYPE).toBe('quorum');
        expect(env.ROLES.split(',')).toContain('api');
        expect(env.DATABASE_URL).toMatch(/^mysql:\/\/mail:.*@mariadb:3306\/mail_dispatch$/);
        const hosts = amqpHosts(env.AMQP_URL);
        expect([...hosts].sort()).toEqual(nodes);
        for (const n of nodes) expect(s.depends_on[n]).toEqual({ condition: 'service_healthy' });
        expect(s.depends_on.mariadb).toEqual({ condition: 'service_healthy' });
        return hosts.join(',');
      });
      expect(new Set(orders).size).toBe(2);
      expect(amqpHosts(envOf(apps[0]![1]).AMQP_URL)[0]).not.toBe(amqpHosts(envOf(apps[1]![1]).AMQP_URL)[0]);
      // each on its own host port
      expect(new Set(apps.map(([, s]) => String(s.ports[0]).split(':')[0])).size).toBe(2);
    });

    it('runs MariaDB with the same least-privilege grants file as compose.yaml', () => {
      const [, db] = services.find(([, s]) => String(s.image ?? '').startsWith('mariadb:'))!;
      expect(db.volumes).toEqual(expect.arrayContaining(['./mysql-init/10-least-privilege.sql:/docker-entrypoint-initdb.d/10-least-privilege.sql:ro']));
      expect(db.healthcheck.test).toBeDefined();
      // the image creates the user (with ALL on the database) before the grants file narrows it
      expect(db.environment).toEqual(expect.objectContaining({ MARIADB_DATABASE: 'mail_dispatch', MARIADB_USER: 'mail' }));
    });
  });

  it('docker/Dockerfile builds and runs on Node 24 in both stages, which the engines of package.json allow (Node 20 is past its end of life)', () => {
    const stages = [...readFileSync(path.join(dockerDir, 'Dockerfile'), 'utf8').matchAll(/^FROM\s+(\S+)(?:\s+AS\s+(\S+))?/gim)].map((m) => [m[2], m[1]]);
    expect(stages).toEqual([['build', 'node:24-bookworm-slim'], ['runtime', 'node:24-bookworm-slim']]);
    const pkg = JSON.parse(readFileSync(path.join(root, 'package.json'), 'utf8')) as Obj;
    expect(pkg.engines).toEqual({ node: '>=22' });
  });

  it('npm start runs the app with the V8 flags of the image\'s CMD (the benchmark reads them from the CMD)', () => {
    const cmd = JSON.parse(/^CMD\s+(\[.*\])\s*$/m.exec(readFileSync(path.join(dockerDir, 'Dockerfile'), 'utf8'))![1]!) as string[];
    expect(cmd[0]).toBe('node');
    expect(cmd.at(-1)).toBe('dist/main.js');
    const flags = cmd.slice(1, -1);
    expect(flags).toEqual(expect.arrayContaining(['--single-threaded-gc', '--max-semi-space-size=4']));
    const pkg = JSON.parse(readFileSync(path.join(root, 'package.json'), 'utf8')) as { scripts: Record<string, string> };
    expect(pkg.scripts.start).toContain(`tsx ${flags.join(' ')} src/main.ts`);
  });

  describe('the validator validates', () => {
    const clone = () => structuredClone(loadCompose(clusterFile));

    it('rejects a service with an unknown key', () => {
      const bad = clone();
      bad.services.app1.restrat = 'always';
      expect(errorsOf(validate, bad).join('\n')).toMatch(/must NOT have additional properties.*"additionalProperty":"restrat"/);
    });

    it('rejects a misspelt depends_on condition', () => {
      const bad = clone();
      bad.services.app2.depends_on.rabbit1.condition = 'service_heathy';
      expect(errorsOf(validate, bad).join('\n')).toMatch(/depends_on\/rabbit1\/condition must be equal to one of the allowed values/);
    });

    it('rejects a healthcheck of the wrong shape and an unknown top-level key', () => {
      const bad = clone();
      bad.services.rabbit2.healthcheck.retries = [3];
      bad.service = {};
      const errors = errorsOf(validate, bad).join('\n');
      expect(errors).toMatch(/\/services\/rabbit2\/healthcheck\/retries must be/);
      expect(errors).toMatch(/"additionalProperty":"service"/);
    });
  });
});
