/** pino-roll ships no types: the one function used here (its README's `build(options) => SonicBoom`). */
declare module 'pino-roll' {
  interface RollingStream {
    write(data: string): boolean;
    end(): void;
  }
  export default function roll(options: {
    file: string;
    extension?: string;
    size?: string | number;
    frequency?: 'daily' | 'hourly' | number;
    limit?: { count?: number };
    mkdir?: boolean;
    symlink?: boolean;
  }): Promise<RollingStream>;
}
