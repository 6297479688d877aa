-- Which encoder each dataset's attention came from (schema 8; written by pipeline/stages/attention.py): the run's
-- pretrained model, or, with attention.finetune_epochs > 0 on a scored pair dataset with a train and a test split
-- (STS-B), a copy fine-tuned on the train split with the [CLS] linear regression head (the study's setting).

create table attention_encoders (
    run_id varchar not null,
    dataset varchar not null,
    encoder varchar not null,
    head varchar,
    epochs integer,
    n_train integer,
    n_test integer,
    losses double[],
    pearson double,
    spearman double,
    mse double,
    seconds double
);
-- key: run_id, dataset
-- ref: run_id -> runs(run_id)
-- ref: dataset -> datasets(dataset)
-- ref: run_id, dataset -> (select distinct run_id, dataset from attention_items)(run_id, dataset)
comment on table attention_encoders is 'Per run and dataset of the attention stage: the encoder whose attention the clusters, tests, points and stored examples of that dataset came from. A fine-tuned encoder is not kept: the per-example page computes live attention with the pretrained model only.';
comment on column attention_encoders.run_id is 'The run (a transformer).';
comment on column attention_encoders.dataset is 'The dataset analysed.';
comment on column attention_encoders.encoder is 'pretrained: the run''s model as loaded; finetuned: a copy fine-tuned with the head below (attention.finetune_epochs).';
comment on column attention_encoders.head is 'The head trained with the encoder: cls (the [CLS] state of the last layer into a linear regressor); NULL when pretrained.';
comment on column attention_encoders.epochs is 'Fine-tuning epochs over the train pairs (AdamW, lr 2e-5 encoder / 1e-3 head, batch 16, MSE on standardised scores, seeded); NULL when pretrained.';
comment on column attention_encoders.n_train is 'Train pairs fine-tuned on (attention.finetune_train, 0 = the whole train split).';
comment on column attention_encoders.n_test is 'Test pairs the fine-tuned head was scored on (the whole test split).';
comment on column attention_encoders.losses is 'Each epoch''s mean training MSE on the standardised scores (the loss as it fell while training).';
comment on column attention_encoders.pearson is 'Pearson r of the fine-tuned head''s prediction and the gold score on the test split.';
comment on column attention_encoders.spearman is 'Spearman rho on the test split.';
comment on column attention_encoders.mse is 'Mean squared error on the test split (original score scale).';
comment on column attention_encoders.seconds is 'Wall-clock seconds of the fine-tuning.';
