import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { type JWK, type JWTPayload, SignJWT, exportJWK, generateKeyPair } from 'jose';

type Key = { kid: string; alg: string; privateKey: Awaited<ReturnType<typeof generateKeyPair>>['privateKey']; jwk: JWK };

/**
 * A real OpenID Connect issuer on 127.0.0.1: a discovery document and a key set (JWKS) served over
 * HTTP, with key pairs generated here. Tokens are signed with those keys; `publish` controls which
 * public keys the key set holds (rotation), `close` takes the issuer down.
 */
export class TestIssuer {
  readonly keys = new Map<string, Key>();
  published = new Set<string>();
  jwksFetches = 0;
  private constructor(private readonly server: Server, readonly url: string) {}

  static async start(): Promise<TestIssuer> {
    let issuer!: TestIssuer;
    const server = createServer((req, res) => {
      if (req.url === '/.well-known/openid-configuration') {
        res.setHeader('content-type', 'application/json');
        res.end(JSON.stringify({ issuer: issuer.url, jwks_uri: `${issuer.url}/keys`, id_token_signing_alg_values_supported: ['RS256', 'ES256'] }));
      } else if (req.url === '/keys') {
        issuer.jwksFetches++;
        res.setHeader('content-type', 'application/json');
        res.end(JSON.stringify(issuer.jwks()));
      } else {
        res.statusCode = 404;
        res.end();
      }
    });
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
    issuer = new TestIssuer(server, `http://127.0.0.1:${(server.address() as AddressInfo).port}`);
    await issuer.addKey('k1', 'RS256');
    return issuer;
  }

  async addKey(kid: string, alg = 'RS256', publish = true): Promise<void> {
    const { privateKey, publicKey } = await generateKeyPair(alg, { extractable: true });
    const jwk = { ...(await exportJWK(publicKey)), kid, alg, use: 'sig' };
    this.keys.set(kid, { kid, alg, privateKey, jwk });
    if (publish) this.published.add(kid);
  }

  jwks(): { keys: JWK[] } {
    return { keys: [...this.published].map((k) => this.keys.get(k)!.jwk) };
  }

  /** A signed token: `iss` this issuer, `exp` an hour from now unless the claims say otherwise (`exp: null` for none). */
  async token(claims: Omit<JWTPayload, 'exp'> & { exp?: number | null } = {}, opts: { kid?: string } = {}): Promise<string> {
    const key = this.keys.get(opts.kid ?? 'k1')!;
    const now = Math.floor(Date.now() / 1000);
    const { exp, ...rest } = claims;
    const body: JWTPayload = { iss: this.url, sub: 'user-1', iat: now, ...rest };
    if (exp !== null) body.exp = exp ?? now + 3600;
    return new SignJWT(body).setProtectedHeader({ alg: key.alg, kid: key.kid, typ: 'JWT' }).sign(key.privateKey);
  }

  close(): Promise<void> {
    this.server.closeAllConnections();
    return new Promise((r) => this.server.close(() => r()));
  }
}
