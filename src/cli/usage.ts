import { VERSION } from '../version.js';

export const MAIN_USAGE = `cf-access-mcp ${VERSION} — reach web resources behind Cloudflare Access from coding agents

Usage:
  cf-access-mcp                       run the MCP server on stdio (what MCP clients start)
  cf-access-mcp login <url>           sign in to the site at <url> in your browser
  cf-access-mcp status [url]          list stored sessions; with a url, also check what it offers
  cf-access-mcp logout <url> | --all  revoke and delete the stored session(s)
  cf-access-mcp fetch <url>           fetch a URL through Access (like curl), logging in if needed
  cf-access-mcp proxy <url>           a local proxy on 127.0.0.1 that adds the Access credential (for curl, git…)
  cf-access-mcp bridge <url>          a stdio MCP server forwarding to a remote MCP server behind Access
  cf-access-mcp install <client>      add this server to an MCP client's configuration
  cf-access-mcp doctor <url>          check and explain why signing in to <url> fails
  cf-access-mcp demo                  run the whole login flow against the built-in emulator, traced
  cf-access-mcp emulator              run the emulator (interactive approval) to try with a real agent
  cf-access-mcp --help | --version

Run "cf-access-mcp <command> --help" for a command's options.

Exit codes: 0 ok, 1 failure, 2 usage error (unknown command or option, missing or malformed URL),
3 login not completed (still pending, timed out, denied or held back after a refusal, or the service token refused) or interrupted with Ctrl-C.
`;

export const LOGIN_USAGE = `Usage: cf-access-mcp login <url> [options]

Opens your browser to sign in to the Cloudflare Access application at <url> and
stores the session for the MCP server (and the other commands) to use.

Options:
  --force            discard the stored session and sign in again
  --method M         auto (default), oauth, cloudflared or service_token
  --paste            also read the address your browser ends on from stdin (for a
                     browser on another machine); automatic when no browser can open here
  --wait <seconds>   how long to wait for you to sign in (default: the login timeout, 300)
  --detach           if the wait ends first, leave a background process listening
                     for the sign-in until the login expires (it stores the session)
  --json             print the result as JSON
  --verbose          log what happens to stderr
  -h, --help         show this help
`;

export const STATUS_USAGE = `Usage: cf-access-mcp status [url] [options]

Lists the stored sessions (state, method, expiry). With a url, also checks
whether Cloudflare Access guards it and which login it offers. Never shows tokens.

Options:
  --json        print the result as JSON
  --verbose     log what happens to stderr
  -h, --help    show this help
`;

export const LOGOUT_USAGE = `Usage: cf-access-mcp logout <url> | --all [options]

Revokes the tokens at the server (when it supports revocation) and deletes the
stored session for the site at <url>, or for every site with --all.

Options:
  --all         log out of every stored site
  --json        print the result as JSON
  --verbose     log what happens to stderr
  -h, --help    show this help
`;

export const FETCH_USAGE = `Usage: cf-access-mcp fetch <url> [options]

Fetches <url> with the stored session (or a service token), signing in first when
needed. Like curl: into a pipe or a file the body goes byte for byte as served
(any type, any size); on a terminal HTML is shown as Markdown and binaries are
described. The status line goes to stderr. A reader that leaves before the whole
body was written (| head -c 10) makes it exit 1, as curl fails with a write error.

Options:
  -X, --request <method>      HTTP method (default GET, or POST with -d)
  -H, --header 'Name: value'  add a request header (repeatable)
  -d, --data <body>           request body
  -o, --output <file>         write the body to <file> (- for stdout, /dev/null to discard)
  --create-dirs               create the missing directories of -o <file> (else an error)
  --format <f>                markdown or text: convert HTML to readable text; raw: as served
                              (default: raw into a pipe or file, markdown on a terminal)
  -f, --fail                  exit 1 when the server answers with HTTP 400 or above (no body written)
  --json                      print the result (status, headers, body as text) as JSON
  --wait <seconds>            how long to wait for a browser login (default 300)
  --detach                    if the wait ends first, leave a background process
                              listening for the sign-in (it stores the session)
  --verbose                   log what happens to stderr
  -h, --help                  show this help
`;

export const EMULATOR_USAGE = `Usage: cf-access-mcp emulator [options]

Runs the built-in Cloudflare Access emulator in the foreground and prints its
URLs (protected app, second app, plain origin, team domain). Point an agent or
"cf-access-mcp login" at the app URL. Stop it with Ctrl-C.

Options:
  --auto        approve logins without a click (default: an Approve/Deny page)
  --port <n>    base port: app on n, team domain n+1, second app n+2, plain n+3 (default: free ports)
  --mode <m>    managed (default), classic or service-auth-only (accepts a service
                token it makes up and prints, the one way in there)
  --quiet       do not print one line per request
  -h, --help    show this help
`;

export const DEMO_USAGE = `Usage: cf-access-mcp demo

Starts the built-in Cloudflare Access emulator (automatic approval), runs this
MCP server as a child over stdio, and calls access_fetch on a protected page as
an agent would: it prints every request of the login (probe, discovery,
registration, authorization, token, fetch) and the content the agent receives.
Nothing is written outside a temporary directory. Takes no options.

Options:
  -h, --help    show this help
`;

export const INSTALL_USAGE = `Usage: cf-access-mcp install <client> [options]

Adds this server (entry "cf-access") to the configuration file of an MCP client,
keeping every other entry and comment, and prints the change as a diff.
Clients: claude-code, opencode, cursor, vscode, windsurf, codex, gemini, claude-desktop.

The entry starts this installation by absolute path (this Node, this package's
dist/index.js); with --npx it says "npx -y cf-access-mcp" (once published).

Options:
  --scope <s>     user (default: every project), project (a file in the current
                  directory; claude-code, opencode, cursor, vscode, codex, gemini) or
                  local (claude-code: this project, in ~/.claude.json)
  --dry-run       print the diff, write nothing
  --force         replace a different entry of the same name (keeping its env)
  --name <n>      the entry's name (default cf-access)
  --npx           start the server with "npx -y cf-access-mcp"
  --json          print the result as JSON
  -h, --help      show this help
`;

export const DOCTOR_USAGE = `Usage: cf-access-mcp doctor <url> [options]

Checks everything a sign-in to <url> depends on and explains each finding with
its fix: DNS and TLS (and the CAs trusted), proxy variables, what Access offers
(challenge, resource metadata, server metadata, registration for each loopback
redirect form, the resource parameter), clock skew against the server,
cloudflared, a configured service token, and the store. Prints no secret.
It registers an OAuth client at the team (as a login would) to test registration.

Exit code 1 when a finding stops a sign-in (FAIL), else 0.

Options:
  --json        print the findings as JSON
  --verbose     log what happens to stderr
  -h, --help    show this help
`;
