/**
 * Handlers typed from a service's generated spec types (openapi-typescript's `operations`):
 * each handler's path parameters, body and JSON answers are the document's, so a spec and its
 * code cannot drift apart unseen. The router has validated the request against the same
 * document before a handler runs, which is what makes the one cast in typedOperations true.
 */
import type { Request, Response } from 'express';
import { queryOf, type OperationHandlers } from './openapi.js';

type Parameters<Op> = Op extends { parameters: infer P } ? P : never;
type Present<T> = [NonNullable<T>] extends [never] ? Record<string, never> : NonNullable<T>;

/** The operation's path parameters. */
export type PathOf<Op> = Present<Parameters<Op> extends { path?: infer T } ? T : never>;
/** The operation's query, coerced to its types and with its defaults. */
export type QueryOf<Op> = Present<Parameters<Op> extends { query?: infer T } ? T : never>;
type Content<Op> = Op extends { requestBody?: { content: infer C } } ? C : never;
type Body<Op> = Content<Op>[keyof Content<Op>];
/**
 * The operation's request body as parsed (its JSON media types'); undefined when it takes none,
 * or may be undefined when the body is optional (a request without one leaves it undefined).
 */
export type BodyOf<Op> = [Content<Op>] extends [never]
  ? undefined
  : Op extends { requestBody: unknown }
    ? Body<Op>
    : Body<Op> | undefined;

type Success = 200 | 201 | 202;
type Responses<Op> = Op extends { responses: infer R } ? R : never;
type JsonAnswers<Op> = {
  [S in Success & keyof Responses<Op>]: Responses<Op>[S] extends { content: { 'application/json': infer A } }
    ? A
    : never;
}[Success & keyof Responses<Op>];
/** Every JSON body the operation may answer with a 2xx; unknown when it answers none. */
export type AnswerOf<Op> = [JsonAnswers<Op>] extends [never] ? unknown : JsonAnswers<Op>;

export type TypedRequest<Op> = Request<PathOf<Op>, unknown, BodyOf<Op>>;
export type TypedResponse<Op> = Response<AnswerOf<Op>>;
export type TypedHandler<Op> = (req: TypedRequest<Op>, res: TypedResponse<Op>) => unknown;
/** A handler for each operation of a document, typed by its generated `operations`. */
export type TypedOperations<Ops> = { [K in keyof Ops]: TypedHandler<Ops[K]> };

export function typedOperations<Ops>(handlers: TypedOperations<Ops>): OperationHandlers {
  return handlers as unknown as OperationHandlers;
}

/** The request's query as its operation's generated type. */
export function typedQuery<Op>(req: TypedRequest<Op>): QueryOf<Op> {
  return queryOf(req as unknown as Request) as QueryOf<Op>;
}
