// What `npm run create-admin` says about the bootstrap route's answer (no Node imports: tested in workerd).
/**
 * What a 409 means: this admin exists already (the bootstrap's own object, so a re-run is a no-op),
 * or the username or email is held by someone else, which the command must not paper over.
 */
export function conflictOf(body) {
  if (body?.type === "UserAlreadyExistsError") return "admin";
  if (body?.type === "UsernameAlreadyExistsError") return "username";
  if (body?.type === "EmailAlreadyExistsError") return "email";
  return "unknown";
}

export function describe(result, { username, email }) {
  if (result.created) return `admin ${username} created (${result.userId})`;
  switch (result.conflict) {
    case "admin":
      return `admin ${username} already exists (created earlier by this command); nothing changed`;
    case "username":
      return `username '${username}' is taken by another user (not an admin created by this command); no admin created`;
    case "email":
      return `email '${email}' is taken by another user; no admin created`;
    default:
      return `admin ${username} was not created: conflict`;
  }
}
