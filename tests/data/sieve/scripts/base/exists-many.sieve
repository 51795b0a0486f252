require "fileinto";
if exists "list-id" { fileinto "list"; }
if exists ["x-spam-flag", "x-spam-level"] { fileinto "both-spam"; }
if not exists "date" { fileinto "no-date"; }
if exists "X-EMPTY" { fileinto "x-empty"; }
