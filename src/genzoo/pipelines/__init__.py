"""genzoo.pipelines."""
