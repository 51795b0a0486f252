require "fileinto";
if allof (exists "subject", header :contains "from" "example") { fileinto "allof"; }
if anyof (header :is "x-priority" "1", header :is "x-priority" "5") { fileinto "anyof"; }
if allof (anyof (false, exists "date"), not exists "list-id") { fileinto "nested"; }
