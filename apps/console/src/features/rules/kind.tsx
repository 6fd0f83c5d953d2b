'use client';

/**
 * What makes a route rule and a traffic policy differ for their pages, so the pages themselves are written once:
 * what the rule is called, where it lives, how one is read and changed, what a new one starts as, and the pure
 * parts of its form (its values as typed, the schema's checks, the diff). Each feature gives its kind and its form.
 */
import type { UseQueryResult } from '@tanstack/react-query';
import { type ComponentType, useState } from 'react';
import { type Applied, RuleCreator, RuleEditor, type RuleFormProps, useRuleForm } from './components';
import type { OpenedFrom } from './edge';
import type { DiffLine, ValidationResult } from './form';

/** A rule as stored: a replace and a delete carry the version it was read at. */
interface StoredRule {
  name: string;
  service: string;
  version: number;
}

type Change<Body, Rule> = (body: Body) => Promise<{ value: Rule; revision: number }>;

export interface RuleKind<
  Rule extends Spec & StoredRule,
  Spec extends { name: string; service: string },
  Values extends { name: string },
> {
  /** "route rule" or "traffic policy". */
  what: string;
  collection: 'routes' | 'policies';
  /** The test id of the version shown on the edit page. */
  versionTestId: string;
  useOne: (name: string) => UseQueryResult<Rule, Error>;
  useChanges: () => {
    create: Change<Spec, Rule>;
    replace: Change<Spec, Rule>;
    remove: (rule: Rule) => Promise<{ revision: number }>;
  };
  newOf: (service: string) => Spec;
  valuesOf: (spec: Spec) => Values;
  /** The keys of the form's fields, as error paths name them. */
  fields: (values: Values, creating: boolean) => string[];
  validateReplace: (rule: Rule, values: Values) => ValidationResult<Spec>;
  validateCreate: (service: string, values: Values) => ValidationResult<Spec>;
  diff: (before: Rule, after: Spec) => DiffLine[];
  diffNew: (after: Spec) => DiffLine[];
}

/** The edit page of a stored rule of `kind` and the page of a new one, both around its `Form`. */
export function ruleViews<
  Rule extends Spec & StoredRule,
  Spec extends { name: string; service: string },
  Values extends { name: string },
>(kind: RuleKind<Rule, Spec, Values>, Form: ComponentType<RuleFormProps<Rule, Spec>>) {
  function EditView({
    name,
    applied,
    ...from
  }: { name: string; applied?: Applied | undefined } & OpenedFrom) {
    const query = kind.useOne(name);
    return (
      <RuleEditor
        what={kind.what}
        testId={kind.versionTestId}
        name={name}
        query={query}
        initialApplied={applied}
      >
        {(editor) => <Form key={editor.value.version} stored={editor.value} {...editor} {...from} />}
      </RuleEditor>
    );
  }

  function CreateView({ service, ...from }: { service: string } & OpenedFrom) {
    return (
      <RuleCreator<Rule> what={kind.what} collection={kind.collection} service={service} {...from}>
        {(onApplied) => <Form value={kind.newOf(service)} onApplied={onApplied} {...from} />}
      </RuleCreator>
    );
  }

  return { EditView, CreateView };
}

/**
 * The state of a rule's form: its values as typed, `edit` to merge a change into them (which closes a shown diff),
 * the review → apply → delete flow, sending a replace when editing a stored rule, else a create, and the props of
 * its frame.
 */
export function useKindForm<
  Rule extends Spec & StoredRule,
  Spec extends { name: string; service: string },
  Values extends { name: string },
>(kind: RuleKind<Rule, Spec, Values>, props: RuleFormProps<Rule, Spec>) {
  const { value, stored, onApplied, onDeleted } = props;
  const [values, setValues] = useState<Values>(() => kind.valuesOf(value));
  const changes = kind.useChanges();
  const form = useRuleForm({
    fields: kind.fields(values, !stored),
    validate: () =>
      stored ? kind.validateReplace(stored, values) : kind.validateCreate(value.service, values),
    diff: (body: Spec) => (stored ? kind.diff(stored, body) : kind.diffNew(body)),
    send: (body: Spec) => (stored ? changes.replace(body) : changes.create(body)),
    onApplied,
    ...(stored ? { remove: () => changes.remove(stored), onDeleted } : {}),
  });
  const edit = (patch: Partial<Values>) => {
    setValues({ ...values, ...patch });
    form.edited();
  };
  const frame = {
    what: kind.what,
    editing: props,
    form,
    name: { value: values.name, onChange: (name: string) => edit({ name } as Partial<Values>) },
  };
  return { values, edit, form, ctx: form.ctx, frame };
}
