export type LogLevel = 'debug' | 'info' | 'notice' | 'warning' | 'error';

/** Where the auth core reports what it does. Implementations must never print to stdout. */
export type Logger = (level: LogLevel, message: string) => void;

export const silentLogger: Logger = () => {};
