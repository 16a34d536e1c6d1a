/** Why a token was refused: `invalid` (401) or `unavailable` (the identity provider, 503). */
export class TokenError extends Error {
  constructor(readonly reason: 'invalid' | 'unavailable', message: string) {
    super(message);
  }
}
