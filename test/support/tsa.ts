import { execFile } from "node:child_process";
import { readFile, writeFile } from "node:fs/promises";
import { createServer, type Server } from "node:http";
import type { AddressInfo } from "node:net";
import path from "node:path";
import { promisify } from "node:util";
import { TimeStampReq } from "pkijs";
import { timestampRequest } from "../../src/verify/rfc3161.js";
import { tempDir } from "./server.js";

const run = promisify(execFile);

/** Which certificate the TSA signs with: one of the trusted CA, one of a CA nobody trusts, one of the trusted CA that expired in 2021. */
export type TsaSigner = "trusted" | "untrusted" | "expired";
/** What the TSA does to the query before it answers it: nothing, or change the imprint or the nonce it timestamps. */
export type TsaTamper = "none" | "imprint" | "nonce";

/**
 * A real RFC 3161 TSA on loopback: `openssl ts -reply` behind a small HTTP
 * server, with a test CA, a TSA certificate it issued (critical EKU
 * timeStamping), a second TSA certificate from a CA that is not trusted, and
 * an expired one, all made here with `openssl req`/`openssl ca`.
 */
export class OpensslTsa {
  signer: TsaSigner = "trusted";
  tamper: TsaTamper = "none";
  /** While set, every query is answered with this HTTP status and no body. */
  failWith: number | undefined;
  queries = 0;
  readonly server: Server = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on("data", (c: Buffer) => chunks.push(c));
    req.on("end", () => {
      this.queries++;
      if (this.failWith) {
        res.writeHead(this.failWith);
        res.end();
        return;
      }
      if (req.method !== "POST" || req.headers["content-type"] !== "application/timestamp-query") {
        res.writeHead(415);
        res.end();
        return;
      }
      this.reply(Buffer.concat(chunks)).then(
        (answer) => {
          res.writeHead(200, { "content-type": "application/timestamp-reply" });
          res.end(answer);
        },
        (err: Error) => {
          res.writeHead(500, { "content-type": "text/plain" });
          res.end(err.message);
        },
      );
    });
  });

  private constructor(readonly dir: string) {}

  /** The CA, the TSA certificates and openssl's configuration, in a temporary directory. */
  static async create(): Promise<OpensslTsa> {
    const dir = await tempDir("attesto-tsa-");
    const tsa = new OpensslTsa(dir);
    await writeFile(path.join(dir, "openssl.cnf"), opensslConfig(dir));
    for (const ca of ["ca", "other_ca"]) {
      await writeFile(path.join(dir, `${ca}.index`), "");
      await writeFile(path.join(dir, `${ca}.serial`), "01\n");
      await tsa.openssl([
        "req",
        "-x509",
        ...ecKey(`${ca}.key`),
        "-out",
        `${ca}.pem`,
        "-subj",
        `/CN=Attesto test ${ca}`,
        "-days",
        "2",
        "-addext",
        "basicConstraints=critical,CA:TRUE",
        "-addext",
        "keyUsage=critical,keyCertSign",
      ]);
    }
    const issue = async (name: TsaSigner, ca: string, dates: string[]) => {
      await writeFile(path.join(dir, `tsa-${name}.serial`), "01\n");
      await tsa.openssl(["req", "-new", ...ecKey(`tsa-${name}.key`), "-out", `tsa-${name}.csr`, "-subj", `/CN=Attesto test TSA ${name}`]);
      await tsa.openssl(["ca", "-batch", "-config", "openssl.cnf", "-name", ca, "-in", `tsa-${name}.csr`, "-out", `tsa-${name}.pem`, "-extensions", "tsa_cert", "-notext", ...dates]);
    };
    await issue("trusted", "ca", ["-days", "2"]);
    await issue("untrusted", "other_ca", ["-days", "2"]);
    await issue("expired", "ca", ["-startdate", "20200101000000Z", "-enddate", "20210101000000Z"]);
    return tsa;
  }

  async listen(): Promise<string> {
    await new Promise<void>((resolve) => this.server.listen(0, "127.0.0.1", resolve));
    return `http://127.0.0.1:${(this.server.address() as AddressInfo).port}/tsa`;
  }

  close(): void {
    this.server.close();
  }

  file(name: string): string {
    return path.join(this.dir, name);
  }

  /** The trusted root (PEM) a caller configures. */
  caPem(): Promise<string> {
    return readFile(this.file("ca.pem"), "utf8");
  }

  /** openssl's answer to a query, after the tamper the test asked for. */
  async reply(query: Uint8Array): Promise<Buffer> {
    let q = query;
    if (this.tamper !== "none") {
      const req = TimeStampReq.fromBER(new Uint8Array(query));
      const hash = new Uint8Array(req.messageImprint.hashedMessage.valueBlock.valueHexView);
      const nonce = new Uint8Array(req.nonce!.valueBlock.valueHexView);
      if (this.tamper === "imprint") hash[0]! ^= 0xff;
      else nonce[nonce.length - 1]! ^= 0x01;
      q = timestampRequest(hash, nonce);
    }
    const id = `${process.pid}-${Date.now()}-${Math.random().toString(16).slice(2)}`;
    const [queryFile, replyFile] = [this.file(`q-${id}.der`), this.file(`r-${id}.der`)];
    await writeFile(queryFile, q);
    await this.openssl(["ts", "-reply", "-queryfile", queryFile, "-config", "openssl.cnf", "-section", `tsa_${this.signer}`, "-out", replyFile]);
    return readFile(replyFile);
  }

  async openssl(args: string[]): Promise<string> {
    const { stdout } = await run("openssl", args, { cwd: this.dir });
    return stdout;
  }
}

const ecKey = (file: string) => ["-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes", "-keyout", file];

function opensslConfig(dir: string): string {
  const ca = (name: string) => `[${name}]
database = ${dir}/${name}.index
serial = ${dir}/${name}.serial
new_certs_dir = ${dir}
certificate = ${dir}/${name}.pem
private_key = ${dir}/${name}.key
default_md = sha256
policy = policy_any
unique_subject = no
email_in_dn = no
`;
  const tsa = (name: TsaSigner) => `[tsa_${name}]
serial = ${dir}/tsa-${name}.serial
signer_cert = ${dir}/tsa-${name}.pem
signer_key = ${dir}/tsa-${name}.key
signer_digest = sha256
default_policy = 1.2.3.4.1
digests = sha256
accuracy = secs:1
ordering = no
tsa_name = no
ess_cert_id_chain = no
ess_cert_id_alg = sha256
`;
  return `[ca]
default_ca = ca
${ca("ca")}
${ca("other_ca")}
[policy_any]
commonName = supplied
[tsa_cert]
basicConstraints = critical,CA:FALSE
keyUsage = critical,digitalSignature
extendedKeyUsage = critical,timeStamping
[tsa]
default_tsa = tsa_trusted
${tsa("trusted")}
${tsa("untrusted")}
${tsa("expired")}`;
}
