require "fileinto";
if header :is "x-spaces" "padded value" { fileinto "trimmed"; }
if header :is "subject" "" { fileinto "empty-subject"; }
if header :is "x-empty" "" { fileinto "x-empty"; }
